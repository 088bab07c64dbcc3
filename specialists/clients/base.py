"""The interface every LLM engine client offers to the specialists.

Messages are Ollama-style dicts: {"role": "system"|"user"|"assistant", "content": str,
"images": [base64 str, ...]?}. Clients raise only studio.errors.TransientError /
PermanentError for engine trouble.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import httpx

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


def same_model(requested: str, installed: str) -> bool:
    """Ollama treats "llama3.2" and "llama3.2:latest" as the same model."""

    def canonical(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return canonical(requested.strip()) == canonical(installed.strip())
