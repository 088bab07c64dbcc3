from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from studio.core.services import login_throttle


class ThrottledSignIn:
    """Refuses a locked-out username and address before the password is even checked."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR") if self.request else None
        if login_throttle.locked(username, address):
            raise forms.ValidationError(login_throttle.lockout_message(), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_throttle.failed(username, address)
            raise
        login_throttle.succeeded(username, address)
        return cleaned


class SignInForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
