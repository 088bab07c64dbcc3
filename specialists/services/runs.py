"""One orchestrator run per conversation, across every web process.

A run claims the conversation with a conditional update and keeps a
heartbeat; a run whose process died goes stale and the next wake-up reclaims it,
marking the reply that was cut off as interrupted (its text is kept).
"""

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db.models import Q
from django.utils import timezone

from specialists.models import Conversation, Message
from specialists.services import notify, orchestrator
from specialists.services.live import live
from specialists.services.turns import next_step
from studio.core.services.database import drop_broken_connections

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3.0
STALE_AFTER = timedelta(seconds=12)
MAX_STEPS_PER_RUN = 40

_tasks: dict[int, asyncio.Task] = {}
# conversation id -> the event loop a re-check is scheduled on
_rechecks: dict[int, asyncio.AbstractEventLoop] = {}
# Conversations woken while their run was ending: the run looks once more instead of ending.
_woken: set[int] = set()


@sync_to_async
def claim(conversation_id: int) -> bool:
    now = timezone.now()
    free = Q(running_since__isnull=True) | Q(running_since__lt=now - STALE_AFTER)
    return bool(Conversation.objects.filter(Q(pk=conversation_id) & free).update(running_since=now))


@sync_to_async
def release(conversation_id: int) -> None:
    Conversation.objects.filter(pk=conversation_id).update(running_since=None)


@sync_to_async
def _beat(conversation_id: int) -> None:
    Conversation.objects.filter(pk=conversation_id, running_since__isnull=False).update(running_since=timezone.now())


async def _heartbeat(conversation_id: int) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await _beat(conversation_id)


@sync_to_async
def _orphans(conversation_id: int) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, status=Message.Status.STREAMING).select_related(
            "conversation"
        )
    )


async def recover_orphans(
    conversation_id: int, reason: str = "The studio restarted while this reply was streaming."
) -> None:
    """Replies left streaming by a run that died: keep their text, mark them interrupted."""
    for message in await _orphans(conversation_id):
        text = await live().get(message.pk)
        content = text if text is not None and len(text) >= len(message.content) else message.content
        await sync_to_async(message.finish)(Message.Status.INTERRUPTED, content, interrupted_by=reason)
        await live().discard(message.pk)
        await notify.message_changed(message.conversation.session_id, message.pk)


@sync_to_async
def _next(conversation_id: int):
    conversation = Conversation.objects.select_related("session").get(pk=conversation_id)
    return conversation, next_step(conversation)


def _recheck_when_stale(conversation_id: int) -> None:
    """Another run holds the conversation. A live one keeps beating and does the work itself; if its
    process died, the claim goes stale: look again then, so its orphan is settled and the team carries
    on without waiting for the artist to do something."""
    loop = asyncio.get_running_loop()
    if _rechecks.get(conversation_id) is loop:
        return
    _rechecks[conversation_id] = loop

    def again() -> None:
        _rechecks.pop(conversation_id, None)
        ensure_running(conversation_id)

    loop.call_later(STALE_AFTER.total_seconds() + HEARTBEAT_SECONDS, again)


async def run_pending(conversation_id: int) -> None:
    """Carry out steps until the conversation waits for the artist."""
    broken = False
    while True:
        _woken.discard(conversation_id)
        if not await claim(conversation_id):
            _recheck_when_stale(conversation_id)
            return
        beat = asyncio.create_task(_heartbeat(conversation_id))
        try:
            await recover_orphans(conversation_id)
            previous = None
            for _ in range(MAX_STEPS_PER_RUN):
                conversation, step = await _next(conversation_id)
                if step is None:
                    break
                if step == previous:
                    log.error("conversation %s made no progress on %s; stopping", conversation_id, step)
                    broken = True
                    break
                previous = step
                if step.kind != "advance":
                    await notify.team_talking(conversation.session_id)
                try:
                    await orchestrator.execute(conversation, step)
                except Exception:
                    # A bug must not leave a reply "typing" forever: settle it with what it had, then stop.
                    log.exception("step %s failed in conversation %s", step, conversation_id)
                    await sync_to_async(drop_broken_connections)()  # a cut connection stays broken until closed
                    await recover_orphans(conversation_id, reason="The studio hit an internal error; try again.")
                    broken = True
                    break
        finally:
            beat.cancel()
            await release(conversation_id)
        # Something may have arrived between the last check and the release.
        _, step = await _next(conversation_id)
        if step is None or broken:
            await notify.turn_changed(conversation_id)
            # A wake that came while this run was ending found it still running: look again for it. From here
            # to the return nothing awaits, so no wake can slip between this check and the run's end.
            if broken or conversation_id not in _woken:
                return


def ensure_running(conversation_id: int) -> asyncio.Task:
    """Start a run in this process unless one is already going (another process's claim is checked by the run)."""
    task = _tasks.get(conversation_id)
    if task is not None and not task.done():
        _woken.add(conversation_id)
        return task
    task = asyncio.get_running_loop().create_task(run_pending(conversation_id))
    _tasks[conversation_id] = task

    def _forget(done: asyncio.Task) -> None:
        if _tasks.get(conversation_id) is done:
            del _tasks[conversation_id]
        if not done.cancelled() and done.exception() is not None:
            log.error("orchestrator run for conversation %s failed", conversation_id, exc_info=done.exception())

    task.add_done_callback(_forget)
    return task


async def wait_idle(conversation_id: int) -> None:
    """For commands and tests: wait until this process's run for the conversation ends."""
    while (task := _tasks.get(conversation_id)) is not None and not task.done():
        await asyncio.wait({task})
