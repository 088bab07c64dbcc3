"""The live state of streaming messages, shared by every process serving a session.

While a specialist streams, its text so far lives here (not in the database,
which is flushed a few times a second), so a browser that connects mid-stream
gets every token exactly once. It also carries the "stop what you are saying"
marker that user interjections set. In-process dicts by default; Redis when
REDIS_URL is set, so several daphne processes agree.
"""

import asyncio
import contextlib
import threading
import weakref

from django.conf import settings

_TTL_SECONDS = 3600


def _length_key(message_id: int) -> str:
    return f"studio:live-length:{message_id}"


class _Waiters:
    """Wakes the streams of this process that watch a conversation the moment an interjection is stored.

    Streams may run on several event loops (the in-process generation threads, tests), so a wake-up is
    handed to each waiter's own loop.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    @contextlib.contextmanager
    def watch(self, conversation_id: int):
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(conversation_id, set()).add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                waiting = self._waiters.get(conversation_id, set())
                waiting.discard(entry)
                if not waiting:
                    self._waiters.pop(conversation_id, None)

    def wake(self, conversation_id: int) -> None:
        with self._lock:
            entries = list(self._waiters.get(conversation_id, ()))
        for loop, event in entries:
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits any more
                loop.call_soon_threadsafe(event.set)


_waiters = _Waiters()


class _InterruptWaiting:
    # How often a watcher asks the store anyway: interjections stored by another process are only
    # seen this way (the in-memory store has no other process).
    poll_seconds: float

    async def get_interrupt(self, conversation_id: int) -> int:
        raise NotImplementedError

    async def wait_interrupt(self, conversation_id: int, after: int) -> int:
        """Return once an interjection newer than ``after`` is stored for the conversation."""
        with _waiters.watch(conversation_id) as woken:
            while (marker := await self.get_interrupt(conversation_id)) <= after:
                # asyncio.wait, not wait_for: Python 3.11's wait_for can swallow a cancellation that
                # lands as the event fires, and a watcher that outlives its stream polls forever.
                waiter = asyncio.ensure_future(woken.wait())
                try:
                    await asyncio.wait({waiter}, timeout=self.poll_seconds)
                finally:
                    waiter.cancel()
                woken.clear()
        return marker


def _text_key(message_id: int) -> str:
    return f"studio:live:{message_id}"


def _interrupt_key(conversation_id: int) -> str:
    return f"studio:interrupt:{conversation_id}"


class MemoryLive(_InterruptWaiting):
    poll_seconds = 5.0

    def __init__(self):
        self._text: dict[int, str] = {}
        self._interrupt: dict[int, int] = {}

    async def append(self, message_id: int, text: str) -> int:
        """Append and return the offset the text starts at."""
        before = self._text.get(message_id, "")
        self._text[message_id] = before + text
        return len(before)

    async def get(self, message_id: int) -> str | None:
        return self._text.get(message_id)

    async def discard(self, message_id: int) -> None:
        self._text.pop(message_id, None)

    async def set_interrupt(self, conversation_id: int, marker: int) -> None:
        self._interrupt[conversation_id] = max(marker, self._interrupt.get(conversation_id, 0))
        _waiters.wake(conversation_id)

    async def get_interrupt(self, conversation_id: int) -> int:
        return self._interrupt.get(conversation_id, 0)


class RedisLive(_InterruptWaiting):
    # A hundred streams polling Redis every 50 ms cost the process more than their tokens did.
    poll_seconds = 0.25

    def __init__(self, url: str):
        self._url = url
        # A redis.asyncio client belongs to the event loop that created it.
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = redis.Redis.from_url(self._url, decode_responses=True)
            self._clients[loop] = client
        return client

    async def append(self, message_id: int, text: str) -> int:
        client = self._client()
        # APPEND counts bytes; browsers and the consumers' ledgers count characters.
        async with client.pipeline(transaction=True) as pipe:
            pipe.append(_text_key(message_id), text)
            pipe.incrby(_length_key(message_id), len(text))
            pipe.expire(_text_key(message_id), _TTL_SECONDS)
            pipe.expire(_length_key(message_id), _TTL_SECONDS)
            _, new_length, _, _ = await pipe.execute()
        return new_length - len(text)

    async def get(self, message_id: int) -> str | None:
        return await self._client().get(_text_key(message_id))

    async def discard(self, message_id: int) -> None:
        await self._client().delete(_text_key(message_id), _length_key(message_id))

    async def set_interrupt(self, conversation_id: int, marker: int) -> None:
        client = self._client()
        key = _interrupt_key(conversation_id)
        current = int(await client.get(key) or 0)
        if marker > current:
            await client.set(key, marker, ex=_TTL_SECONDS)
        _waiters.wake(conversation_id)

    async def get_interrupt(self, conversation_id: int) -> int:
        return int(await self._client().get(_interrupt_key(conversation_id)) or 0)


_memory = MemoryLive()
_redis: RedisLive | None = None


def live():
    global _redis
    if not settings.REDIS_URL:
        return _memory
    if _redis is None or _redis._url != settings.REDIS_URL:
        _redis = RedisLive(settings.REDIS_URL)
    return _redis
