"""GET /healthz: whether this process can reach its database and channel layer.

For load balancers and `docker compose` healthchecks, so it needs no sign-in
(LoginRequiredMiddleware lets /healthz through) and answers quickly either way.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Long enough for a loaded Redis, short enough that a healthcheck never piles up.
CHANNEL_LAYER_TIMEOUT = 2.0


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_ok(), "channel_layer": _channel_layer_ok()}
    healthy = all(checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        logger.warning("healthz: database unreachable", exc_info=True)
        return False


def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        return async_to_sync(_round_trip)(layer)
    except Exception:  # noqa: BLE001 - any layer failure (connection refused, timeout, ...) means unhealthy
        logger.warning("healthz: channel layer unreachable", exc_info=True)
        return False


async def _round_trip(layer) -> bool:
    """Sends a message to a fresh channel and reads it back, as the websocket consumers would."""
    async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT):
        channel = await layer.new_channel()
        receiving = asyncio.ensure_future(layer.receive(channel))
        try:
            # On Redis pub/sub a subscription takes effect a moment after it is asked for, and what is
            # published before that is gone: ping until the answer comes.
            while not receiving.done():
                await layer.send(channel, {"type": "healthz.ping"})
                await asyncio.wait({receiving}, timeout=0.1)
        finally:
            if not receiving.done():
                receiving.cancel()
                await asyncio.wait({receiving})
    return receiving.result().get("type") == "healthz.ping"
