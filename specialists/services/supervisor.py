"""The conversation runs on its own: a supervisor in each serving process drives conversations with work to do.

It starts with the process (studio/asgi.py: when daphne's reactor runs, or on the first ASGI call) on
the serving event loop, and then:
- at start-up, settles what a killed process left behind: replies left streaming, conversations with
  a next step, and (with generation jobs in-process) the generation jobs nobody runs any more;
- on a wake-up, runs the conversation named in it. Wake-ups come from anywhere (an artist's action, a
  generation finishing in a worker thread or a Celery worker) through one channel-layer group, so with
  Redis every web process hears them; the per-conversation lease (``runs.claim``) lets exactly one
  process drive a conversation.

The websocket consumer only carries frames: no browser needs to be open for the team to carry on.
"""

import asyncio
import contextlib
import logging
import weakref
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db.models import Q
from django.utils import timezone

from generations.services import dispatch
from specialists.models import Conversation, Message
from specialists.services import runs
from studio.core.services.broadcast import run_from_sync

log = logging.getLogger(__name__)

GROUP = "studio-supervisor"
WAKE = "supervisor.wake"
# Conversations touched this recently are looked at on start-up; older ones wait for the artist.
RECENT = timedelta(days=2)
DISCARD_TIMEOUT_SECONDS = 1.0

_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()


def start() -> asyncio.Task:
    """Start this loop's supervisor once (idempotent); call on the serving event loop."""
    loop = asyncio.get_running_loop()
    task = _running.get(loop)
    if task is None or task.done():
        task = _running[loop] = loop.create_task(_supervise(), name="conversation-supervisor")
    return task


@sync_to_async
def _pending_conversations() -> list[int]:
    since = timezone.now() - RECENT
    busy = Q(running_since__isnull=False) | Q(messages__status=Message.Status.STREAMING)
    recent = Q(session__updated_at__gte=since)
    return list(Conversation.objects.filter(busy | recent).values_list("pk", flat=True).distinct())


@sync_to_async
def _recover_generations() -> list[int]:
    return dispatch.recover_at_start()


async def _listen(layer, channel: str) -> None:
    while True:
        event = await layer.receive(channel)
        if event.get("type") == WAKE:
            runs.ensure_running(event["conversation_id"])


async def _supervise() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("supervisor.")
    await layer.group_add(GROUP, channel)
    listening = asyncio.ensure_future(_listen(layer, channel))
    try:
        try:
            recovered = await _recover_generations()
            if recovered:
                log.info("generation jobs picked up again at start: %s", recovered)
            for conversation_id in await _pending_conversations():
                runs.ensure_running(conversation_id)
        except Exception:  # a database that is not there yet must not stop the wake-ups
            log.exception("the supervisor could not look for pending work at start-up")
        await listening
    finally:
        listening.cancel()
        # Best effort and bounded: when the whole loop shuts down, the layer's own connection tasks are
        # being cancelled too, and an unbounded wait here would hold the shutdown for ever.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(layer.group_discard(GROUP, channel), timeout=DISCARD_TIMEOUT_SECONDS)


async def wake(conversation_id: int) -> None:
    """From the serving loop (an artist's action): this process takes the lease, or waits for its holder."""
    runs.ensure_running(conversation_id)


async def _send_wake(conversation_id: int) -> None:
    await get_channel_layer().group_send(GROUP, {"type": WAKE, "conversation_id": conversation_id})


def wake_sync(conversation_id: int) -> None:
    """From anywhere else (a generation thread, a Celery worker): every serving process hears it."""
    run_from_sync(_send_wake, conversation_id)
