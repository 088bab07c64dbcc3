"""One rate limit for everything an artist can change in a session: messages, phase moves, pause, retry,
generate, variations, reworks, cancels, settings. Refused actions store nothing."""

from asgiref.sync import sync_to_async
from django.conf import settings

from studio.core.services.limits import Limit


class TooManyActions(Exception):
    """The sentence to show: what happened and what to do."""


def _limit() -> Limit:
    # Read at call time so the limit follows the settings in force.
    return Limit("action", settings.ACTION_RATE_LIMIT, 60)


def spend(session_id: int) -> None:
    limit = _limit()
    if not limit.spend(session_id):
        raise TooManyActions(
            f"That is more than {limit.allowed} actions in a minute in this session, so the studio did not take it. "
            "Wait a few seconds and try again: nothing was lost (any text you typed is still in the box)."
        )


# The cache is thread-safe: no need to queue behind the database thread.
aspend = sync_to_async(spend, thread_sensitive=False)
