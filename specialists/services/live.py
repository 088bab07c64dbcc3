"""The live state of streaming messages, shared by every process serving a session.

While a specialist streams, its text so far lives here (not in the database,
which is flushed a few times a second), so a browser that connects mid-stream
gets every token exactly once. It also carries the "stop what you are saying"
marker that user interjections set. In-process dicts by default; Redis when
REDIS_URL is set, so several daphne processes agree.
"""

import asyncio
import weakref

from django.conf import settings

_TTL_SECONDS = 3600


def _text_key(message_id: int) -> str:
    return f"studio:live:{message_id}"


def _interrupt_key(conversation_id: int) -> str:
    return f"studio:interrupt:{conversation_id}"


class MemoryLive:
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

    async def get_interrupt(self, conversation_id: int) -> int:
        return self._interrupt.get(conversation_id, 0)


class RedisLive:
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
        async with client.pipeline(transaction=True) as pipe:
            pipe.append(_text_key(message_id), text)
            pipe.expire(_text_key(message_id), _TTL_SECONDS)
            new_length, _ = await pipe.execute()
        return new_length - len(text)

    async def get(self, message_id: int) -> str | None:
        return await self._client().get(_text_key(message_id))

    async def discard(self, message_id: int) -> None:
        await self._client().delete(_text_key(message_id))

    async def set_interrupt(self, conversation_id: int, marker: int) -> None:
        client = self._client()
        key = _interrupt_key(conversation_id)
        current = int(await client.get(key) or 0)
        if marker > current:
            await client.set(key, marker, ex=_TTL_SECONDS)

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
