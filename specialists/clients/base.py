"""The interface every LLM engine client offers to the specialists.

Messages are Ollama-style dicts: {"role": "system"|"user"|"assistant", "content": str,
"images": [base64 str, ...]?}. Clients raise only studio.errors.TransientError /
PermanentError for engine trouble.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import httpx

from studio.errors import PermanentError

# One client per engine serves every session in the process: keep a connection per streaming session
# alive between replies (with 8, a hundred sessions opened 92 new connections a reply), and never make
# a session wait for a pool slot.
STREAMING_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=128)


@dataclass
class ChatChunk:
    content: str
    done: bool = False
    # Only on the final chunk: eval_count, prompt_eval_count, *_duration (ns), done_reason, model.
    stats: dict = field(default_factory=dict)
    # A thinking model's reasoning, streamed apart from the reply: never part of the reply or the history.
    thinking: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, as its engine reports it (never guessed from its name)."""

    vision: bool = False
    thinking: bool = False
    tools: bool = False
    context_length: int | None = None
    # False when the engine could not say (an old Ollama): treated as a plain text model.
    known: bool = True

    def labels(self) -> list[str]:
        return [name for name in ("vision", "thinking", "tools") if getattr(self, name)]


@dataclass
class ModelInfo:
    name: str
    family: str = ""
    parameter_size: str = ""
    size: int = 0
    backend: str = ""
    # Filled in by the studio's model listing (specialists.services.llm.list_models).
    capabilities: Capabilities | None = None


@runtime_checkable
class LLMClient(Protocol):
    backend: str

    def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
        think: bool | str | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """An async generator: content (or thinking) deltas as they arrive, then one chunk with done=True and
        stats. ``think`` False asks a thinking model not to think (where the engine allows it)."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def capabilities(self, model: str) -> Capabilities: ...

    async def ping(self) -> bool:
        """Whether the engine answers; fast, never raises."""
        ...

    async def aclose(self) -> None: ...


def stream_timeout(first_token: float, connect: float) -> httpx.Timeout:
    """A reply's request may wait long for its first bytes: a queued request (Ollama serves one at a time by
    default) and a model load get nothing until their turn. ``paced_lines`` keeps the pauses short after."""
    return httpx.Timeout(first_token, connect=connect)


class ReplyPaused(Exception):
    """The engine went silent for longer than allowed in the middle of a reply."""


class _PauseWatch:
    """Cancels the reading task when it has waited ``seconds`` for the engine's next line. Time the reader's
    consumer spends with a line does not count; one timer per ``seconds``, nothing per token but a clock read."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def waiting(self) -> None:
        self._since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._since + self.seconds, self._check)

    def heard(self) -> None:
        self._since = None

    def _check(self) -> None:
        self._timer = None
        if self._since is None:
            return  # re-armed by the next wait
        due = self._since + self.seconds
        if self._loop.time() >= due:
            self.expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(due, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


async def paced_lines(response: httpx.Response, between: float) -> AsyncIterator[str]:
    """The body's lines. The first may take as long as the request's read timeout allows; after it, a pause
    longer than ``between`` raises ReplyPaused (httpcore fixes the read timeout for a whole body)."""
    lines = response.aiter_lines().__aiter__()
    watch: _PauseWatch | None = None
    try:
        while True:
            if watch is not None:
                watch.waiting()
            try:
                line = await lines.__anext__()
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if watch is None or not watch.expired:
                    raise
                asyncio.current_task().uncancel()
                raise ReplyPaused() from None
            if watch is None:
                watch = _PauseWatch(between)
            else:
                watch.heard()
            yield line
    finally:
        if watch is not None:
            watch.close()


def permanent_error(table, message: str, model: str) -> PermanentError | None:
    """The first (pattern, sentence) of an engine's table that ``message`` matches, as the PermanentError to
    raise; the sentence may name {model} and the pattern's named groups."""
    for pattern, sentence in table:
        if found := pattern.search(message):
            return PermanentError(sentence.format(model=model, **found.groupdict()))
    return None


def same_model(requested: str, installed: str) -> bool:
    """Ollama treats "llama3.2" and "llama3.2:latest" as the same model."""

    def canonical(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return canonical(requested.strip()) == canonical(installed.strip())
