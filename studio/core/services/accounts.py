from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from studio.env import is_loopback_host


def local_user():
    """The user a loopback-only install signs in automatically. It owns the install, so it runs the admin too;
    it has no password, so it can never sign in from anywhere else."""
    user, created = get_user_model().objects.get_or_create(
        username=settings.LOCAL_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif not (user.is_staff and user.is_superuser):  # made before it ran the admin
        get_user_model().objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
        user.is_staff = user.is_superuser = True
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


def still_signed_in(session_key: str | None, user_id: int) -> bool:
    """Whether a browser sign-in still stands: its session exists and names this user, the user is active,
    and their password has not changed since (the hash Django stores at sign-in)."""
    if not session_key:
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())
