"""Stream one specialist's reply into a message, token by token.

Tokens go to the live buffer first, then to every browser on the session, and
the text is flushed to the database a few times a second. An interjection
(a newer turn marker) or a closed engine stream stops the reply; its partial
text is kept and marked interrupted.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from specialists.models import Message
from specialists.services.chat_html import render_status
from specialists.services.live import live
from specialists.services.reply_text import ReplyWatch
from studio.core.services.broadcast import group_name, push_html
from studio.errors import EngineError

log = logging.getLogger(__name__)

# The live buffer has every token at once; the database copy is what survives a crash of this process.
FLUSH_SECONDS = 1.0
# With nothing from the engine after this long, the bubble says it waits: a busy Ollama queues requests
# silently, and a model load can take minutes.
WAITING_NOTICE_SECONDS = 3.0
THINKING = "thinking…"
WAITING = "waiting for the model…"


@dataclass
class StreamResult:
    content: str
    status: str
    stats: dict = field(default_factory=dict)
    error: str = ""
    # A thinking model's reasoning: kept apart, never in the reply or the history.
    thinking: str = ""


class _StatusNote:
    """The note beside a streaming bubble's name, sent only when it changes."""

    def __init__(self, session_id: int, message_id: int):
        self._session_id, self._message_id = session_id, message_id
        self.shown = ""

    async def show(self, text: str) -> None:
        if text != self.shown:
            self.shown = text
            await push_html(self._session_id, render_status(self._message_id, text))


@sync_to_async
def _flush(message_id: int, content: str) -> None:
    Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        content=content, updated_at=timezone.now()
    )


async def _watch_for_interrupt(conversation_id: int, anchor_id: int) -> None:
    await live().wait_interrupt(conversation_id, anchor_id)


class _Broadcaster:
    """Puts a reply's text into the live buffer and out to the session's browsers, in order.

    Sending is decoupled from reading the engine: while one send is in flight (a busy process, a
    channel layer a network hop away), the tokens that arrive meanwhile wait in one buffer and go
    out together as one event. Browsers then never fall more than one send behind the engine,
    whatever the load (see PERFORMANCE.md); at low load every token still goes out on its own.
    """

    def __init__(self, store, layer, group: str, message_id: int, *, broadcast: bool):
        self._store, self._layer, self._group, self._message_id = store, layer, group, message_id
        self._broadcast = broadcast
        self._pending: list[str] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._run())

    def put(self, text: str) -> None:
        if self._task.done():
            self._task.result()  # the sender failed: raise its error in the reader
        self._pending.append(text)
        self._idle.clear()
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                offset = await self._store.append(self._message_id, text)
                if self._broadcast:
                    event = {"type": "studio.token", "message_id": self._message_id, "offset": offset, "text": text}
                    await self._layer.group_send(self._group, event)
            self._idle.set()

    async def drain(self) -> None:
        """Wait until everything put so far is out; raises what the sender hit."""
        idle = asyncio.create_task(self._idle.wait())
        await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        if self._task.done():
            self._task.result()

    def close(self) -> None:
        self._task.cancel()


async def stream_reply(
    message: Message,
    session_id: int,
    conversation_id: int,
    anchor_id: int,
    chunks,
    *,
    broadcast_tokens: bool = True,
    watch: ReplyWatch | None = None,
) -> StreamResult:
    """Consume the async iterator ``chunks`` into ``message``; never raises for engine trouble. ``watch`` may
    end the reply early (enough sentences, a loop): the engine is told by closing the stream."""
    store = live()
    layer = get_channel_layer()
    group = group_name(session_id)
    parts: list[str] = []
    stats: dict = {}
    flushing: set[asyncio.Task] = set()

    def flush_in_background() -> None:
        # The database thread is shared by every session in the process: a token must never wait
        # behind it (at 20 sessions that wait was most of the p99, see PERFORMANCE.md).
        if flushing:
            return  # the previous flush is still queued; the next one carries this text too
        task = asyncio.create_task(_flush(message.pk, "".join(parts)))
        flushing.add(task)
        task.add_done_callback(_flush_done)

    def _flush_done(task: asyncio.Task) -> None:
        flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not save the text so far of message %s", message.pk, exc_info=task.exception())

    sender = _Broadcaster(store, layer, group, message.pk, broadcast=broadcast_tokens)
    note = _StatusNote(session_id, message.pk)
    thoughts: list[str] = []
    heard = asyncio.Event()

    async def say_waiting():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(heard.wait(), WAITING_NOTICE_SECONDS)
            return
        await note.show(WAITING)

    async def consume():
        last_flush = time.monotonic()
        async with contextlib.aclosing(chunks) as stream:
            async for chunk in stream:
                heard.set()
                if chunk.thinking:
                    thoughts.append(chunk.thinking)
                    if not parts:
                        await note.show(THINKING)
                if chunk.content:
                    if not parts and note.shown:
                        await note.show("")
                    parts.append(chunk.content)
                    sender.put(chunk.content)
                    if watch is not None and watch.feed(chunk.content):
                        stats["stopped"] = watch.reason
                        break
                if chunk.done:
                    stats.update(chunk.stats)
                if time.monotonic() - last_flush > FLUSH_SECONDS:
                    flush_in_background()
                    last_flush = time.monotonic()
        await sender.drain()  # every token is out before the reply is settled

    consumer = asyncio.create_task(consume())
    watcher = asyncio.create_task(_watch_for_interrupt(conversation_id, anchor_id))
    waiting = asyncio.create_task(say_waiting())
    try:
        done, _ = await asyncio.wait({consumer, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        consumer.cancel()
        watcher.cancel()
        waiting.cancel()
        sender.close()
        raise
    watcher.cancel()
    waiting.cancel()
    if consumer not in done:
        sender.close()  # whatever it had not sent yet arrives with the settled bubble
    if flushing:
        await asyncio.wait(set(flushing))  # settled after the last flush, never overwritten by it
    if consumer not in done:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError, EngineError):
            await consumer
        return StreamResult("".join(parts), Message.Status.INTERRUPTED, stats, thinking="".join(thoughts))
    sender.close()
    try:
        consumer.result()
    except EngineError as exc:
        return StreamResult("".join(parts), Message.Status.FAILED, stats, error=exc.message)
    except Exception as exc:  # an engine speaking nonsense must not kill the conversation
        log.exception("stream for message %s failed", message.pk)
        return StreamResult("".join(parts), Message.Status.FAILED, stats, error=f"The reply broke off: {exc}")
    content = watch.kept() if watch is not None and watch.reason else "".join(parts)
    return StreamResult(content, Message.Status.COMPLETE, stats, thinking="".join(thoughts))
