"""Runs a fake engine's aiohttp server on its own event loop in a daemon thread, so synchronous and
asynchronous tests alike can talk to it over a real loopback socket."""

from __future__ import annotations

import asyncio
import threading


class BackgroundServer:
    """Subclasses set ``display_name`` and implement ``_startup()`` / ``_shutdown()`` (run on the loop)."""

    display_name = "fake server"

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    async def _startup(self) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    def start(self):
        thread_name = self.display_name.lower().replace(" ", "-")
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.display_name} did not start")
        if self._startup_error:
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()
