from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse

from studio.core.services.accounts import auto_login_allowed, local_user

_PUBLIC_PREFIXES = ("/accounts/login/", "/static/", "/admin/", "/healthz")


class LocalUserMiddleware:
    """Signs in the local user while the studio listens on loopback only (the admin included: it is theirs)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            if auto_login_allowed(request.META.get("REMOTE_ADDR"), request.META):
                login(request, local_user())
        return self.get_response(request)


class LoginRequiredMiddleware:
    """Everything but the login page, static files and the admin (own login) needs a signed-in user."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated or request.path.startswith(_PUBLIC_PREFIXES):
            return self.get_response(request)
        if request.headers.get("HX-Request"):
            # htmx follows redirects into the swap target; ask for a full-page visit instead.
            response = HttpResponse(status=401)
            # Quoted: a CR/LF in the path must not reach a response header.
            response["HX-Redirect"] = f"/accounts/login/?{urlencode({'next': request.path})}"
            return response
        return redirect_to_login(request.get_full_path())
