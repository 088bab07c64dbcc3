"""Ollama's native HTTP API: streamed chat (NDJSON), installed and loaded models, unloading."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx

from specialists.clients.base import (
    STREAMING_LIMITS,
    Capabilities,
    ChatChunk,
    ModelInfo,
    ReplyPaused,
    paced_lines,
    permanent_error,
    stream_timeout,
)
from studio.errors import EngineError, PermanentError, TransientError

STAT_KEYS = (
    "model",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
PING_TIMEOUT = 1.0
_NOT_FOUND = re.compile(r"model ['\"]?(?P<model>[^'\"]+?)['\"]? not found")

# Ollama's error texts that no retry can fix, and what to tell the artist; {model} is the model asked for.
# (From Ollama's source and API docs: tests/recordings/README.md.) Anything else from a 5xx is transient.
PERMANENT_ERRORS: tuple[tuple[re.Pattern, str], ...] = (
    (
        re.compile(r"missing data required for image input|does not support (images|vision)", re.I),
        "{model} cannot look at images. Give this specialist a vision model in the session settings "
        "(one whose capabilities list “vision”, e.g. qwen2.5vl or gemma3:4b).",
    ),
    (
        re.compile(r"requires more system memory \((?P<need>[^)]+)\) than is available \((?P<have>[^)]+)\)", re.I),
        "{model} needs {need} of memory but only {have} is free. Pick a smaller model in the session settings, "
        "or free memory (ComfyUI holds GPU memory too).",
    ),
    (
        re.compile(r"model runner has unexpectedly stopped|llama runner process has terminated", re.I),
        "Ollama's runner for {model} crashed, most often because the model does not fit in memory. Pick a "
        "smaller model, or look at Ollama's log (`journalctl -u ollama` or ~/.ollama/logs/server.log).",
    ),
    (
        re.compile(r"does not support thinking", re.I),
        "{model} does not support thinking, but the studio asked it to; pick another model or report this.",
    ),
)


def unreachable_message(url: str) -> str:
    return f"Ollama is not reachable at {url}. Start it with `ollama serve`, or set OLLAMA_URL."


def think_off(model: str, family: str = "") -> bool | str:
    """The request value that keeps a thinking model's reasoning shortest: gpt-oss cannot stop thinking
    and takes a level instead of false."""
    return "low" if "gpt-oss" in model or family.startswith("gptoss") else False


class OllamaClient:
    backend = "ollama"

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
        first_token_timeout: float = 600.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.first_token_timeout = first_token_timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=STREAMING_LIMITS,
        )

    def __repr__(self) -> str:
        return f"OllamaClient({self.base_url!r})"

    # -- chat -------------------------------------------------------------------------------------
    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
        think: bool | str | None = None,
    ) -> AsyncIterator[ChatChunk]:
        body: dict = {"model": model, "messages": messages, "stream": True}
        if format is not None:
            body["format"] = format
        if options:
            body["options"] = options
        if think is not None:
            body["think"] = think
        started = False
        final: ChatChunk | None = None
        timeout = stream_timeout(self.first_token_timeout, self.connect_timeout)
        try:
            async with self._http.stream("POST", "/api/chat", json=body, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._http_error(response, model)
                # Read to the end of the body even after the final line, so the connection goes back to the pool.
                async for line in paced_lines(response, self.read_timeout):
                    started = True
                    if not line.strip() or final is not None:
                        continue
                    data = _parse_line(line)
                    if "error" in data:
                        raise self._classified(str(data["error"]), model)
                    message = data.get("message") or {}
                    if data.get("done"):
                        stats = {k: data[k] for k in STAT_KEYS if k in data}
                        final = ChatChunk(message.get("content") or "", done=True, stats=stats)
                        continue
                    if message.get("thinking"):
                        yield ChatChunk("", thinking=message["thinking"])
                    if message.get("content"):
                        yield ChatChunk(message["content"])
                if final is None:
                    raise TransientError(self._stopped_message())
        except ReplyPaused:
            raise TransientError(
                f"Ollama at {self.base_url} sent nothing for {self.read_timeout:g} s in the middle of a reply; "
                "try again (LLM_READ_TIMEOUT sets how long it may pause)."
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=started, streaming=True) from exc
        yield final

    async def capabilities(self, model: str) -> Capabilities:
        """What /api/show says the model can do; an Ollama too old to say gives known=False."""
        try:
            response = await self._http.post("/api/show", json={"model": model})
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=False) from exc
        if response.status_code >= 400:
            raise self._http_error(response, model)
        try:
            data = response.json()
        except ValueError:
            raise TransientError(f"Ollama at {self.base_url} sent an unreadable answer to /api/show.") from None
        if not isinstance(data, dict):
            data = {}
        info = data.get("model_info") if isinstance(data.get("model_info"), dict) else {}
        context = next(
            (v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int) and v > 0), None
        )
        listed = data.get("capabilities")
        if not isinstance(listed, list):
            return Capabilities(context_length=context, known=False)
        return Capabilities(
            vision="vision" in listed, thinking="thinking" in listed, tools="tools" in listed, context_length=context
        )

    # -- models -----------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        data = await self._get_json("/api/tags")
        models = []
        for entry in data.get("models") or []:
            details = entry.get("details") or {}
            models.append(
                ModelInfo(
                    name=entry.get("name") or entry.get("model") or "",
                    family=details.get("family") or "",
                    parameter_size=details.get("parameter_size") or "",
                    size=int(entry.get("size") or 0),
                    backend=self.backend,
                )
            )
        return [m for m in models if m.name]

    async def loaded(self) -> list[dict]:
        """The models Ollama holds in memory right now (/api/ps entries: name, size, size_vram, expires_at)."""
        data = await self._get_json("/api/ps")
        return list(data.get("models") or [])

    async def pull(self, model: str) -> AsyncIterator[dict]:
        """Download a model: /api/pull's progress lines ({"status", "digest"?, "total"?, "completed"?}) as they
        come, ending with {"status": "success"}. Closing the iterator closes the request, which stops the pull."""
        timeout = stream_timeout(self.first_token_timeout, self.connect_timeout)
        try:
            async with self._http.stream(
                "POST", "/api/pull", json={"model": model, "stream": True}, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._http_error(response, model)
                async for line in paced_lines(response, self.read_timeout):
                    if not line.strip():
                        continue
                    data = _parse_line(line)
                    if "error" in data:
                        raise PermanentError(_pull_failure(model, str(data["error"])))
                    yield data
        except ReplyPaused:
            raise TransientError(
                f"Ollama at {self.base_url} stopped reporting the download of {model}; try again."
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=False) from exc

    async def unload(self, model: str) -> None:
        """Ask Ollama to free a model's memory now (before a big image job, for instance)."""
        try:
            response = await self._http.post("/api/generate", json={"model": model, "keep_alive": 0})
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=False) from exc
        if response.status_code >= 400:
            raise self._http_error(response, model)

    async def ping(self, timeout: float = PING_TIMEOUT) -> bool:
        try:
            response = await self._http.get("/api/version", timeout=timeout)
        except httpx.HTTPError:
            return False
        except Exception:  # noqa: BLE001 - ping must never raise
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- errors -----------------------------------------------------------------------------------
    async def _get_json(self, path: str) -> dict:
        try:
            response = await self._http.get(path)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=False) from exc
        if response.status_code >= 400:
            raise self._http_error(response, None)
        try:
            data = response.json()
        except ValueError:
            raise TransientError(f"Ollama at {self.base_url} sent an unreadable answer to {path}.") from None
        return data if isinstance(data, dict) else {}

    def _unreachable_message(self) -> str:
        return unreachable_message(self.base_url)

    def _stopped_message(self) -> str:
        return (
            f"Ollama stopped answering in the middle of a reply (at {self.base_url}). "
            "It may have crashed or run out of memory; try again."
        )

    def _transport_error(self, exc: httpx.HTTPError, *, during_reply: bool, streaming: bool = False) -> TransientError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return TransientError(self._unreachable_message())
        if isinstance(exc, httpx.PoolTimeout):
            return TransientError(f"Ollama at {self.base_url} is busy with other replies; try again in a moment.")
        if during_reply:
            return TransientError(self._stopped_message())
        if isinstance(exc, httpx.TimeoutException) and not streaming:
            return TransientError(
                f"Ollama at {self.base_url} did not answer within {self.read_timeout:g} s; try again."
            )
        if isinstance(exc, httpx.TimeoutException):
            return TransientError(
                f"Ollama at {self.base_url} did not start answering within {self.first_token_timeout:g} s: "
                "the model may still be loading, or other replies are ahead in its queue (it serves one at a "
                "time unless OLLAMA_NUM_PARALLEL says more). Try again, or raise LLM_FIRST_TOKEN_TIMEOUT."
            )
        return TransientError(
            f"Ollama at {self.base_url} dropped the connection ({exc.__class__.__name__}); try again."
        )

    def _classified(self, message: str, model: str | None, status: int | None = None) -> EngineError:
        """An error text from Ollama (with its HTTP status; None in the middle of a reply) as the sentence to
        show: permanent where a retry cannot help."""
        if permanent := permanent_error(PERMANENT_ERRORS, message, model or "this model"):
            return permanent
        if status is None:
            return TransientError(f"Ollama reported an error in the middle of a reply: {message}. Try again.")
        if status == 503:
            return TransientError(
                f"Ollama at {self.base_url} is overloaded (its queue is full); try again in a moment."
            )
        if status >= 500:
            return TransientError(f"Ollama at {self.base_url} failed ({status}): {message}. Try again.")
        return PermanentError(f"Ollama refused the request ({status}): {message}")

    def _http_error(self, response: httpx.Response, model: str | None) -> Exception:
        message = _error_text(response)
        if response.status_code == 404:
            found = _NOT_FOUND.search(message)
            if not found:
                return PermanentError(
                    f"{self.base_url} answered 404 ({message}). Is OLLAMA_URL pointing at an Ollama server?"
                )
            missing = model or found.group("model")
            return PermanentError(
                f"model {missing} is not installed in Ollama: run `ollama pull {missing}`",
                detail={"model": missing},
            )
        return self._classified(message, model, response.status_code)


def _pull_failure(model: str, error: str) -> str:
    if "file does not exist" in error or "not found" in error:
        return (
            f"Ollama has no model called {model} to download. Check the name on ollama.com/library "
            f"(for example llama3.2 or qwen2.5:7b)."
        )
    return f"Ollama could not download {model}: {error}"


def _parse_line(line: str) -> dict:
    try:
        data = json.loads(line)
    except ValueError:
        raise TransientError(f"Ollama sent a line that is not JSON: {line[:200]!r}") from None
    if not isinstance(data, dict):
        raise TransientError(f"Ollama sent an unexpected line: {line[:200]!r}")
    return data


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        return error.get("message", str(error)) if isinstance(error, dict) else str(error)
    return response.text.strip()[:500]
