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


def auto_login_allowed(client_host: str | None) -> bool:
    # Both the listening address and the peer must be loopback: a proxy or a
    # port forward from elsewhere never gets the local user.
    return bool(settings.LOCAL_AUTO_LOGIN and client_host and is_loopback_host(client_host))
