"""OpenAI-compatible chat servers (llama.cpp's server, LM Studio, vLLM, Ollama's /v1): SSE streaming."""

from __future__ import annotations

import json
import re
import time
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

PING_TIMEOUT = 1.0
# Ollama-style options -> OpenAI request fields.
_OPTION_FIELDS = {"temperature": "temperature", "seed": "seed", "num_predict": "max_tokens", "top_p": "top_p"}
# Structured output comes in two dialects: response_format json_schema (llama.cpp's server, vLLM, LM Studio)
# and json_object with a "schema" (llama.cpp's server, llama-cpp-python). Which one a server takes is learnt
# from its refusal of the other, once, and remembered per server for the life of the process.
DIALECTS = ("json_schema", "json_object")
_dialects: dict[str, str] = {}
_REFUSED_FORMAT = re.compile(r"response_format|json_schema|json_object", re.I)
# Servers name a reasoning model's thoughts differently in the stream's deltas.
_REASONING_FIELDS = ("reasoning_content", "reasoning")
# Error texts no retry can fix, and what to tell the artist ({model} is the model asked for).
PERMANENT_ERRORS: tuple[tuple[re.Pattern, str], ...] = (
    (
        re.compile(r"image input is not supported|mmproj|does not support (images|vision)|multimodal", re.I),
        "{model} on the model server cannot look at images (the server has no vision projector loaded). "
        "Give this specialist a vision model, or start the server with one (llama.cpp: --mmproj).",
    ),
    (
        re.compile(r"exceeds the available context size|context length|maximum context", re.I),
        "The conversation is longer than {model}'s context on the model server; start it with a larger "
        "context (llama.cpp: --ctx-size) or pick a model with a longer one.",
    ),
)


def reset_dialects() -> None:
    _dialects.clear()


def response_format(schema: dict | str | None, dialect: str) -> dict | None:
    if schema is None:
        return None
    if schema == "json" or not isinstance(schema, dict):
        return {"type": "json_object"}
    if dialect == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "brief", "schema": schema}}


class OpenAICompatClient:
    backend = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
        first_token_timeout: float = 600.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.first_token_timeout = first_token_timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=STREAMING_LIMITS,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatClient({self.base_url!r})"

    def dialect(self) -> str:
        return _dialects.get(self.base_url, DIALECTS[0])

    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
        think: bool | str | None = None,
    ) -> AsyncIterator[ChatChunk]:
        body: dict = {
            "model": model,
            "messages": [_openai_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for option, value in (options or {}).items():
            if option in _OPTION_FIELDS and value is not None:
                body[_OPTION_FIELDS[option]] = value
        tried: set[str] = set()
        while True:
            dialect = self.dialect()
            tried.add(dialect)
            if format is not None:
                body["response_format"] = response_format(format, dialect)
            try:
                async for chunk in self._stream(body, model, has_images=any(m.get("images") for m in messages)):
                    yield chunk
                return
            except _FormatRefused as refused:
                other = next((d for d in DIALECTS if d not in tried), None)
                if not isinstance(format, dict) or other is None:
                    raise PermanentError(
                        f"The model server at {self.base_url} accepts neither form of structured output the "
                        f"studio knows (JSON schema, JSON object with a schema): {_first_line(refused.text)}"
                    ) from None
                _dialects[self.base_url] = other

    async def _stream(self, body: dict, model: str, *, has_images: bool) -> AsyncIterator[ChatChunk]:
        started_ns = time.monotonic_ns()
        started = False
        events = 0
        stats: dict = {"model": model}
        timeout = stream_timeout(self.first_token_timeout, self.connect_timeout)
        try:
            async with self._http.stream("POST", "/chat/completions", json=body, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    text = _error_text(response)
                    if "response_format" in body and _REFUSED_FORMAT.search(text):
                        raise _FormatRefused(text)
                    raise self._http_error(response, model)
                finished = False
                # Read to the end of the body even after [DONE], so the connection goes back to the pool.
                async for line in paced_lines(response, self.read_timeout):
                    started = True
                    if finished:
                        continue
                    if line.startswith("error:"):  # older llama.cpp builds report in-stream errors this way
                        error = _parse_event(line[6:].strip())
                        raise self._classified(
                            _message_of(error) if "error" in error else _message_of({"error": error}), model
                        )
                    if not line.startswith("data:"):
                        continue  # blank separators, ": ping" comments, event names
                    payload = line[5:].strip()
                    events += 1
                    if payload == "[DONE]":
                        finished = True
                        continue
                    data = _parse_event(payload)
                    if data.get("error"):
                        raise self._classified(_message_of(data), model)
                    stats["model"] = data.get("model") or stats["model"]
                    if data.get("usage"):
                        stats["eval_count"] = data["usage"].get("completion_tokens")
                        stats["prompt_eval_count"] = data["usage"].get("prompt_tokens")
                    for choice in data.get("choices") or []:
                        delta = choice.get("delta") or {}
                        thinking = next((delta[f] for f in _REASONING_FIELDS if delta.get(f)), "")
                        if thinking:
                            yield ChatChunk("", thinking=thinking)
                        if delta.get("content"):
                            yield ChatChunk(delta["content"])
                        if choice.get("finish_reason"):
                            stats["done_reason"] = choice["finish_reason"]
                if not events:
                    raise self._empty_stream(model, has_images=has_images)
                if not finished and "done_reason" not in stats:
                    raise TransientError(self._stopped_message())
        except ReplyPaused:
            raise TransientError(
                f"The model server at {self.base_url} sent nothing for {self.read_timeout:g} s in the middle of a "
                "reply; try again (LLM_READ_TIMEOUT sets how long it may pause)."
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=started, streaming=True) from exc
        stats["total_duration"] = time.monotonic_ns() - started_ns
        yield ChatChunk("", done=True, stats={k: v for k, v in stats.items() if v is not None})

    async def capabilities(self, model: str) -> Capabilities:
        """llama.cpp's server says what its model can do at /props; other servers do not say (known=False)."""
        root = self.base_url.removesuffix("/v1")
        try:
            response = await self._http.get(f"{root}/props")
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("modalities"), dict):
            return Capabilities(known=False)
        settings = data.get("default_generation_settings") or {}
        context = settings.get("n_ctx") if isinstance(settings, dict) else None
        return Capabilities(
            vision=bool(data["modalities"].get("vision")),
            context_length=context if isinstance(context, int) and context > 0 else None,
        )

    async def list_models(self) -> list[ModelInfo]:
        try:
            response = await self._http.get("/models")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=False) from exc
        if response.status_code >= 400:
            raise self._http_error(response, None)
        try:
            data = response.json()
        except ValueError:
            raise TransientError(f"The model server at {self.base_url} sent an unreadable model list.") from None
        entries = data.get("data") if isinstance(data, dict) else None
        return [
            ModelInfo(name=entry["id"], backend=self.backend)
            for entry in entries or []
            if isinstance(entry, dict) and entry.get("id")
        ]

    async def ping(self, timeout: float = PING_TIMEOUT) -> bool:
        try:
            response = await self._http.get("/models", timeout=timeout)
        except Exception:  # noqa: BLE001 - ping must never raise
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- errors -----------------------------------------------------------------------------------
    def _stopped_message(self) -> str:
        return f"The model server at {self.base_url} stopped answering in the middle of a reply; try again."

    def _transport_error(self, exc: httpx.HTTPError, *, during_reply: bool, streaming: bool = False) -> TransientError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return TransientError(
                f"The OpenAI-compatible server is not reachable at {self.base_url}. Start it, or fix OPENAI_BASE_URL."
            )
        if during_reply:
            return TransientError(self._stopped_message())
        if isinstance(exc, httpx.TimeoutException):
            waited = self.first_token_timeout if streaming else self.read_timeout
            return TransientError(
                f"The model server at {self.base_url} did not answer within {waited:g} s; try again"
                + (" (LLM_FIRST_TOKEN_TIMEOUT sets how long a reply may wait to start)." if streaming else ".")
            )
        return TransientError(f"The model server at {self.base_url} dropped the connection; try again.")

    def _empty_stream(self, model: str, *, has_images: bool) -> EngineError:
        if has_images:  # llama-cpp-python fails this way inside the stream when a text model is shown an image
            return PermanentError(
                f"The model server at {self.base_url} ended the reply without a word when shown an image: "
                f"{model} probably cannot look at images. Give this specialist a vision model."
            )
        return TransientError(f"The model server at {self.base_url} ended the reply without a word; try again.")

    def _classified(self, message: str, model: str | None, status: int | None = None) -> EngineError:
        """An error text as the sentence to show; permanent where a retry cannot help."""
        if permanent := permanent_error(PERMANENT_ERRORS, message, model or "the model"):
            return permanent
        if "validation error" in message:  # the request's shape, as llama-cpp-python's pydantic models see it
            return PermanentError(f"The model server at {self.base_url} refused the request: {_first_line(message)}")
        if status is None:
            return TransientError(f"The model server reported an error mid-reply: {_first_line(message)}. Try again.")
        if status >= 500 or status == 429:
            return TransientError(f"The model server at {self.base_url} failed ({status}): {_first_line(message)}")
        return PermanentError(
            f"The model server at {self.base_url} refused the request ({status}): {_first_line(message)}"
        )

    def _http_error(self, response: httpx.Response, model: str | None) -> Exception:
        message = _error_text(response)
        status = response.status_code
        if status == 404 and model:
            return PermanentError(
                f"model {model} is not available on the model server at {self.base_url}: "
                f"load or download it there first ({message})",
                detail={"model": model},
            )
        if status in (401, 403):
            return PermanentError(f"The model server at {self.base_url} refused the API key: set OPENAI_API_KEY.")
        return self._classified(message, model, status)


def _openai_message(message: dict) -> dict:
    images = message.get("images") or []
    if not images:
        return {"role": message["role"], "content": message.get("content", "")}
    parts: list[dict] = [{"type": "text", "text": message.get("content", "")}]
    for image in images:
        url = image if str(image).startswith("data:") else f"data:image/png;base64,{image}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message["role"], "content": parts}


class _FormatRefused(Exception):
    """The server refused the structured-output form it was sent."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


_PYDANTIC = re.compile(r"'loc': \((?P<loc>[^)]*)\).*?'msg': (?P<quote>[\"'])(?P<msg>.+?)(?P=quote)", re.S)


def _first_line(text: str) -> str:
    """What a refusal says, as a sentence: a validation dump's own message and field, never its tracebacks and
    file paths."""
    text = str(text)
    if found := _PYDANTIC.search(text):
        field = ".".join(part.strip(" '\"") for part in found.group("loc").split(",") if part.strip(" '\""))
        return f"{found.group('msg')} (in {field})"
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:200]


def _parse_event(payload: str) -> dict:
    try:
        data = json.loads(payload)
    except ValueError:
        raise TransientError(f"The model server sent an event that is not JSON: {payload[:200]!r}") from None
    return data if isinstance(data, dict) else {}


def _message_of(data: dict) -> str:
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict) and data.get("error"):
        return _message_of(data)
    return response.text.strip()[:500]
