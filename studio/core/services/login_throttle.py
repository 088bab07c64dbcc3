"""Sign-in throttling: after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address,
that pair waits LOGIN_LOCKOUT_SECONDS from its last failure, whatever it types."""

from django.conf import settings

from studio.core.services.limits import Limit


def _limit() -> Limit:
    return Limit("login", settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_LOCKOUT_SECONDS)


def _parts(username: str, address: str | None) -> tuple[str, str]:
    # Usernames are case-insensitive to an attacker's keyboard: count "Alice" and "alice" together.
    return username.strip().lower(), address or "unknown"


def locked(username: str, address: str | None) -> bool:
    return _limit().used_up(*_parts(username, address))


def failed(username: str, address: str | None) -> None:
    limit = _limit()
    parts = _parts(username, address)
    limit.spend(*parts)
    limit.extend(*parts)


def succeeded(username: str, address: str | None) -> None:
    _limit().reset(*_parts(username, address))


def lockout_message() -> str:
    minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
    return (
        f"Too many wrong passwords for this account from your address. Wait {minutes} "
        f"minute{'s' if minutes != 1 else ''} and try again (ask whoever runs the studio if you forgot it)."
    )
