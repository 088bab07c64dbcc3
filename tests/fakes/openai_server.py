"""A protocol-faithful fake OpenAI-compatible chat server, in the dialect of each server people run.

Each dialect follows the raw exchanges recorded in tests/recordings/openai_compat/ (llama.cpp's server and
llama-cpp-python's server) and what tests/recordings/README.md says of the others:

- ``llama.cpp``: response_format json_schema and json_object (+ schema); a final usage chunk with empty
  choices when asked; in-stream errors as ``data: {"error": ...}``; an image for a model without a vision
  projector is refused with HTTP 500; GET /props reports modalities and n_ctx.
- ``llama.cpp-old``: the same, but in-stream errors arrive as an ``error: {...}`` SSE line.
- ``llama-cpp-python``: only json_object (+ schema): json_schema fails request validation with the
  recorded HTTP 500; ignores stream_options (no usage); ": ping" comment lines between events; JSON with
  spaces after separators; a first chunk that carries only the role; an image for a text model ends the
  200 stream with no event at all; no /props.
- ``lmstudio``: only json_schema (json_object is refused with HTTP 400); usage when asked.
- ``vllm``: json_schema and json_object; usage when asked.

Every dialect serves any model name with its one loaded model (llama-cpp-python echoes the name asked
for), honours max_tokens (finish_reason "length"), and streams ``delta.reasoning_content`` before the
reply for a model whose name marks it as a reasoning model (``thinking_models``).

Knobs: ``dialect``, ``token_delay``, ``fail_next(kind, after_tokens=0, message=None)`` with kinds
``error_mid_stream`` (the dialect's in-stream error after some tokens), ``empty_stream`` (200 and no
event), ``server_error`` (HTTP 500 with ``message``); ``n_ctx`` and ``models_answer`` replace what /props and
/v1/models say. Records: ``requests`` ({path, json, peer, status, authorization}).
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
import uuid
from pathlib import Path

from aiohttp import web

from tests.fakes.background import BackgroundServer
from tests.fakes.ollama import default_responder, instance_of, reasoning_for, tokenize

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "openai_compat"
DIALECTS = ("llama.cpp", "llama.cpp-old", "llama-cpp-python", "lmstudio", "vllm")
FAILURE_KINDS = ("error_mid_stream", "empty_stream", "server_error")
LOADED_MODEL = "smollm2"
CONTEXT = 4096
# Which structured-output forms each dialect takes.
ACCEPTS = {
    "llama.cpp": {"json_schema", "json_object"},
    "llama.cpp-old": {"json_schema", "json_object"},
    "llama-cpp-python": {"json_object"},
    "lmstudio": {"json_schema"},
    "vllm": {"json_schema", "json_object"},
}
BODY = web.RequestKey("body", dict)
LMSTUDIO_FORMAT_REFUSAL = "'response_format.type' must be 'json_schema' or 'text'"


def _recorded(dialect_folder: str, name: str) -> str:
    return (RECORDINGS / dialect_folder / f"{name}.response.txt").read_text()


class FakeOpenAIServer(BackgroundServer):
    display_name = "fake OpenAI-compatible server"

    def __init__(self, dialect: str = "llama.cpp", *, host: str = "127.0.0.1", port: int = 0, token_delay=0.0):
        super().__init__()
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; one of {DIALECTS}")
        self.dialect = dialect
        self.host, self.port = host, port
        self.token_delay = token_delay
        self.vision = False
        # What /props reports as the context size, in place of the recorded one (a server started with another
        # --ctx-size, or one that reports nonsense).
        self.n_ctx: object = None
        # (status, body) that GET /v1/models answers instead of the list: a proxy's error page, or a broken server.
        self.models_answer: tuple[int, str] | None = None
        self.thinking_models = ("qwen3", "deepseek-r1")
        self._lock = threading.Lock()
        self._failures: collections.deque[dict] = collections.deque()
        self._requests: list[dict] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v1/chat/completions"]

    def fail_next(self, kind: str, *, after_tokens: int = 0, message: str | None = None) -> None:
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._failures.append({"kind": kind, "after_tokens": after_tokens, "message": message})

    def reset(self, dialect: str | None = None) -> None:
        with self._lock:
            self._failures.clear()
            self._requests.clear()
        self.dialect = dialect or self.dialect
        self.vision = False
        self.n_ctx = None
        self.models_answer = None
        self.token_delay = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def _startup(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.add_routes(
            [
                web.get("/v1/models", self._models),
                web.post("/v1/chat/completions", self._chat),
                web.get("/props", self._props),
                web.get("/health", self._health),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler):
        raw = await request.read() if request.can_read_body else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        record = {
            "path": request.path,
            "json": body,
            "peer": peer[1] if peer else None,
            "status": None,
            "authorization": request.headers.get("Authorization"),
        }
        with self._lock:
            self._requests.append(record)
        request[BODY] = body if isinstance(body, dict) else {}
        response = await handler(request)
        record["status"] = response.status
        return response

    def _take_failure(self) -> dict | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    # -- endpoints ---------------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _props(self, request: web.Request) -> web.Response:
        if not self.dialect.startswith("llama.cpp"):
            return web.json_response({"detail": "Not Found"}, status=404)
        props = json.loads(_recorded("llama_cpp_server", "props"))
        props["modalities"]["vision"] = self.vision
        if self.n_ctx is not None:
            props["default_generation_settings"]["n_ctx"] = self.n_ctx
        return web.json_response(props)

    async def _models(self, request: web.Request) -> web.Response:
        if self.models_answer is not None:
            status, body = self.models_answer
            return web.Response(status=status, text=body, content_type="application/json")
        if self.dialect.startswith("llama.cpp"):
            return web.Response(text=_recorded("llama_cpp_server", "models"), content_type="application/json")
        if self.dialect == "llama-cpp-python":
            return web.Response(text=_recorded("llama_cpp_python", "models"), content_type="application/json")
        data = [{"id": LOADED_MODEL, "object": "model", "owned_by": self.dialect}]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        if not body:
            return self._not_json()
        failure = self._take_failure() or {}
        if failure.get("kind") == "server_error":
            return _openai_error(500, failure["message"] or "internal server error")
        response_format = body.get("response_format") or {}
        refused = self._refuse_format(response_format.get("type"))
        if refused is not None:
            return refused
        has_image = any(
            isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
            for m in body.get("messages") or []
        )
        if has_image and not self.vision and self.dialect.startswith("llama.cpp"):
            return web.Response(
                status=500,
                text=_recorded("llama_cpp_server", "image_to_text_model"),
                content_type="application/json",
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        if (has_image and not self.vision) or failure.get("kind") == "empty_stream":
            await response.write_eof()  # llama-cpp-python failed inside the stream: not one event
            return response
        await self._stream(request, response, body, self._reply(body, response_format), failure)
        return response

    # -- dialect details ---------------------------------------------------------------------------
    def _refuse_format(self, kind: str | None) -> web.Response | None:
        if kind is None or kind == "text" or kind in ACCEPTS[self.dialect]:
            return None
        if self.dialect == "llama-cpp-python":
            return web.Response(
                status=500, text=_recorded("llama_cpp_python", "json_schema_stream"), content_type="application/json"
            )
        return _openai_error(400, LMSTUDIO_FORMAT_REFUSAL)

    def _not_json(self) -> web.Response:
        if self.dialect == "llama-cpp-python":
            return web.Response(status=500, text=_recorded("llama_cpp_python", "not_json"))
        return web.Response(status=400, text=_recorded("llama_cpp_server", "not_json"), content_type="application/json")

    @staticmethod
    def _reply(body: dict, response_format: dict) -> str:
        schema = None
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
        elif response_format.get("type") == "json_object":
            schema = response_format.get("schema") or {"type": "object", "properties": {"reply": {"type": "string"}}}
        if schema is not None:
            return json.dumps(instance_of(schema, topic="a fox in the snow"))
        return default_responder({"messages": body.get("messages") or []})

    def _encode(self, data: dict) -> bytes:
        if self.dialect == "llama-cpp-python":
            return f"data: {json.dumps(data)}\r\n\r\n".encode()
        return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    async def _stream(self, request, response, body: dict, text: str, failure: dict) -> None:
        model = str(body.get("model") or LOADED_MODEL) if self.dialect == "llama-cpp-python" else LOADED_MODEL
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        thoughts = tokenize(reasoning_for(body)) if str(body.get("model", "")).startswith(self.thinking_models) else []
        tokens = tokenize(text)
        limit = body.get("max_tokens")
        cut = isinstance(limit, int) and 0 <= limit < len(thoughts) + len(tokens)
        if cut:
            thoughts, tokens = thoughts[:limit], tokens[: max(limit - len(thoughts), 0)]

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        await response.write(self._encode(chunk({"role": "assistant"})))
        fail_after = failure.get("after_tokens") if failure.get("kind") == "error_mid_stream" else None
        for number, (field, token) in enumerate(
            [("reasoning_content", t) for t in thoughts] + [("content", t) for t in tokens]
        ):
            if fail_after is not None and number >= fail_after:
                break
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            if self.dialect == "llama-cpp-python" and number % 4 == 3:
                await response.write(b": ping - 2026-12-01 10:00:00.000000+00:00\r\n\r\n")
            await response.write(self._encode(chunk({field: token})))
        if fail_after is not None:
            error = {"code": 500, "message": failure["message"] or "context shift is disabled", "type": "server_error"}
            if self.dialect == "llama.cpp-old":
                await response.write(f"error: {json.dumps(error)}\n\n".encode())
            else:
                await response.write(self._encode({"error": error}))
            await response.write_eof()
            return
        await response.write(self._encode(chunk({}, "length" if cut else "stop")))
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.dialect != "llama-cpp-python":
            usage = {"completion_tokens": len(thoughts) + len(tokens), "prompt_tokens": 36, "total_tokens": 0}
            usage["total_tokens"] = usage["completion_tokens"] + usage["prompt_tokens"]
            await response.write(self._encode(dict(chunk({}), choices=[], usage=usage)))
        await response.write(b"data: [DONE]\n\n" if self.dialect != "llama-cpp-python" else b"data: [DONE]\r\n\r\n")
        await response.write_eof()


def _openai_error(status: int, message: str) -> web.Response:
    error = {"code": status, "message": message, "type": "invalid_request_error" if status < 500 else "server_error"}
    return web.json_response({"error": error}, status=status)
