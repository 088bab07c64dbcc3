"""OpenAI-compatible chat servers (llama.cpp's server, LM Studio, vLLM, Ollama's /v1): SSE streaming."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx

from specialists.clients.base import STREAMING_LIMITS, ChatChunk, ModelInfo
from studio.errors import PermanentError, TransientError

PING_TIMEOUT = 1.0
# Ollama-style options -> OpenAI request fields.
_OPTION_FIELDS = {"temperature": "temperature", "seed": "seed", "num_predict": "max_tokens", "top_p": "top_p"}


class OpenAICompatClient:
    backend = "openai"

    def __init__(self, base_url: str, api_key: str = "", *, connect_timeout: float = 3.0, read_timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.read_timeout = read_timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=STREAMING_LIMITS,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatClient({self.base_url!r})"

    async def stream_chat(
        self,
        model: str,
        messages: list[dict],
        *,
        format: dict | str | None = None,
        options: dict | None = None,
    ) -> AsyncIterator[ChatChunk]:
        body: dict = {
            "model": model,
            "messages": [_openai_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if format == "json":
            body["response_format"] = {"type": "json_object"}
        elif isinstance(format, dict):
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "brief", "schema": format}}
        for option, value in (options or {}).items():
            if option in _OPTION_FIELDS and value is not None:
                body[_OPTION_FIELDS[option]] = value
        started_ns = time.monotonic_ns()
        started = False
        stats: dict = {"model": model}
        try:
            async with self._http.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._http_error(response, model)
                started = True
                finished = False
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, event names
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        finished = True
                        break
                    data = _parse_event(payload)
                    if data.get("error"):
                        raise TransientError(f"The model server reported an error mid-reply: {_message_of(data)}")
                    stats["model"] = data.get("model") or stats["model"]
                    if data.get("usage"):
                        stats["eval_count"] = data["usage"].get("completion_tokens")
                        stats["prompt_eval_count"] = data["usage"].get("prompt_tokens")
                    for choice in data.get("choices") or []:
                        content = (choice.get("delta") or {}).get("content") or ""
                        if content:
                            yield ChatChunk(content)
                        if choice.get("finish_reason"):
                            stats["done_reason"] = choice["finish_reason"]
                if not finished and "done_reason" not in stats:
                    raise TransientError(self._stopped_message())
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, during_reply=started) from exc
        stats["total_duration"] = time.monotonic_ns() - started_ns
        yield ChatChunk("", done=True, stats={k: v for k, v in stats.items() if v is not None})

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

    def _transport_error(self, exc: httpx.HTTPError, *, during_reply: bool) -> TransientError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return TransientError(
                f"The OpenAI-compatible server is not reachable at {self.base_url}. Start it, or fix OPENAI_BASE_URL."
            )
        if during_reply:
            return TransientError(self._stopped_message())
        if isinstance(exc, httpx.TimeoutException):
            return TransientError(
                f"The model server at {self.base_url} did not answer within {self.read_timeout:g} s; try again."
            )
        return TransientError(f"The model server at {self.base_url} dropped the connection; try again.")

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
        if status >= 500 or status == 429:
            return TransientError(f"The model server at {self.base_url} failed ({status}): {message}")
        return PermanentError(f"The model server at {self.base_url} refused the request ({status}): {message}")


def _openai_message(message: dict) -> dict:
    images = message.get("images") or []
    if not images:
        return {"role": message["role"], "content": message.get("content", "")}
    parts: list[dict] = [{"type": "text", "text": message.get("content", "")}]
    for image in images:
        url = image if str(image).startswith("data:") else f"data:image/png;base64,{image}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message["role"], "content": parts}


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
