from django.conf import settings
from django.contrib.auth import get_user_model

from studio.env import is_loopback_host


def local_user():
    """The user a loopback-only install signs in automatically."""
    user, created = get_user_model().objects.get_or_create(username=settings.LOCAL_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# A request that carries any of these came through a proxy: its real client may be anywhere.
PROXY_HEADERS = ("HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_VIA")
PROXY_HEADER_PREFIX = "HTTP_X_FORWARDED_"


def came_through_a_proxy(meta) -> bool:
    return any(name in meta for name in PROXY_HEADERS) or any(k.startswith(PROXY_HEADER_PREFIX) for k in meta)


def auto_login_allowed(client_host: str | None, meta=None) -> bool:
    # The listening address and the peer must be loopback, and nothing may have forwarded the request:
    # a reverse proxy or port forward on this machine would otherwise make every remote client local.
    if meta is not None and came_through_a_proxy(meta):
        return False
    return bool(settings.LOCAL_AUTO_LOGIN and client_host and is_loopback_host(client_host))
