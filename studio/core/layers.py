"""The in-memory channel layer, safe to send to from other threads' event loops.

Channels' InMemoryChannelLayer keeps asyncio queues that belong to the server's event loop. A
generation running in a worker thread (the default install) pushes its card through
async_to_sync, i.e. from a loop of its own: putting into the server's queue from there does not
wake the server's loop, so the card waited for daphne's next timer (up to a second; measured in
PERFORMANCE.md), and the queues were touched from two threads at once. Sends and group sends
from a foreign loop are handed to the loop that receives instead.

The parent also scans every channel for expired messages on every send and receive (O(sockets)
work per token with a hundred sockets streaming; here at most once a second, messages expire after
a minute), and sends to a group through one task per member (here inline: an in-memory put never
waits).
"""

import asyncio
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_EVERY_SECONDS = 1.0


class LoopSafeInMemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._home: asyncio.AbstractEventLoop | None = None
        self._cleaned_at = 0.0

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_EVERY_SECONDS:
            self._cleaned_at = now
            super()._clean_expired()

    def _foreign_home(self) -> asyncio.AbstractEventLoop | None:
        """The receiving loop, if it runs and is not the caller's."""
        home = self._home
        if home is None or home.is_closed() or not home.is_running():
            return None
        return None if home is asyncio.get_running_loop() else home

    async def _at_home(self, home: asyncio.AbstractEventLoop, coroutine) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))

    async def receive(self, channel):
        self._home = asyncio.get_running_loop()  # consumers receive on the server's loop
        return await super().receive(channel)

    async def send(self, channel, message):
        if home := self._foreign_home():
            return await self._at_home(home, super().send(channel, message))
        return await super().send(channel, message)

    async def group_send(self, group, message):
        if home := self._foreign_home():
            return await self._at_home(home, self.group_send(group, message))
        # The parent makes a task per member and waits for them all, so every token a reply streams cost
        # the sender a trip round the event loop. Putting into an in-memory queue never waits: do it inline.
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass

    async def group_add(self, group, channel):
        if home := self._foreign_home():
            return await self._at_home(home, super().group_add(group, channel))
        return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        if home := self._foreign_home():
            return await self._at_home(home, super().group_discard(group, channel))
        return await super().group_discard(group, channel)
