"""Websocket origins checked as strictly as Django checks CSRF origins: scheme, host and port.

Channels' AllowedHostsOriginValidator compares host names only, so a page on another port of the same
machine (ComfyUI's own :8188, a dev server on :3000) or on https://127.0.0.1:8443 could open an
artist's socket with their cookie. Here the Origin must be the studio's own origin (the scheme and
Host the socket was opened with) or one listed in CSRF_TRUSTED_ORIGINS, and the Host must be one
the studio serves.
"""

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def own_origin(scope) -> str | None:
    host = _header(scope, b"host")
    if not host:
        return None
    scheme = "https" if _is_secure(scope) else "http"
    return f"{scheme}://{host.lower()}"


def _is_secure(scope) -> bool:
    """As Django's request.is_secure(): the proxy's header counts only when SECURE_PROXY_SSL_HEADER names it."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        header = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        value = _header(scope, header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def origin_allowed(scope) -> bool:
    origin = (_header(scope, b"origin") or "").lower()
    host = _header(scope, b"host") or ""
    domain, _port = split_domain_port(host)
    if not origin or not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    trusted = {entry.lower().rstrip("/") for entry in settings.CSRF_TRUSTED_ORIGINS}
    return origin == own_origin(scope) or origin in trusted


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
