"""Push HTML fragments to every browser watching a session.

Fragments are rendered from templates by the caller and carry hx-swap-oob
attributes; the websocket consumer forwards them as they are.
"""

import asyncio
import os
import threading

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

# A send from a worker that cannot reach the channel layer gives up after this; the database still
# holds the truth, and the browser catches up on its next snapshot.
SYNC_SEND_TIMEOUT_SECONDS = 30.0


def group_name(session_id: int) -> str:
    return f"session-{session_id}"


class _SenderLoop:
    """One long-lived event loop per process for channel-layer sends from code that runs outside any loop.

    There, async_to_sync starts a new thread and event loop for every call, and channels-redis opens a new
    connection for every loop: in a Celery worker each card and progress update paid for a thread, a loop
    and a Redis connection (tens of ms on a busy machine, see PERFORMANCE.md, queue scaling).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked worker child inherits the object but not the thread that ran the loop.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


_sender = _SenderLoop()


def _serving_loop() -> asyncio.AbstractEventLoop | None:
    """The server's loop when this thread runs sync code on its behalf (sync_to_async)."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def run_from_sync(coroutine_function, *args):
    """Call a channel-layer coroutine function from synchronous code and return its result."""
    if _serving_loop() is not None:
        # On the server's loop, in order with everything else this request or consumer sends.
        return async_to_sync(coroutine_function)(*args)
    future = asyncio.run_coroutine_threadsafe(coroutine_function(*args), _sender.loop())
    return future.result(SYNC_SEND_TIMEOUT_SECONDS)


async def push_html(session_id: int, html: str) -> None:
    await get_channel_layer().group_send(group_name(session_id), {"type": "studio.html", "html": html})


def push_html_sync(session_id: int, html: str) -> None:
    run_from_sync(push_html, session_id, html)


def user_group_name(user_id: int) -> str:
    return f"user-{user_id}"


async def sign_out_sockets(user_id: int, session_key: str | None = None) -> None:
    """Close the user's open sockets: those of one browser sign-in (its session key), or all of them."""
    event = {"type": "studio.signed_out", "session_key": session_key}
    await get_channel_layer().group_send(user_group_name(user_id), event)


def sign_out_sockets_sync(user_id: int, session_key: str | None = None) -> None:
    run_from_sync(sign_out_sockets, user_id, session_key)
