"""A protocol-faithful fake Ollama: a real HTTP server on loopback (aiohttp).

Follows the wire formats in tests/recordings/README.md: POST /api/chat (NDJSON stream of
deltas, then a final line with done_reason and nanosecond durations; or one JSON object with
stream=false), GET /api/tags, GET /api/ps, POST /api/generate (keep_alive 0 unloads), POST /api/pull,
GET /api/version, and the OpenAI-compatible POST /v1/chat/completions (SSE) + GET /v1/models.

Replies are deterministic: by default a persona-aware sentence built from the system prompt and
the last user message; with a JSON-schema `format` (or response_format), a valid instance of the
schema. Replace `responder(request_json) -> str` to decide the text yourself.

Knobs (thread-safe, change them while it runs): `models`, `token_delay`, `responder`,
`fail_next(kind, ...)`. Records: `requests` ({method, path, json, authorization, started, finished,
token_times, status}; times are wall-clock seconds, comparable across processes).

In-process:  fake = FakeOllama(token_delay=0.01).start(); fake.url; ...; fake.stop()
Standalone:  python -m tests.fakes.ollama --port 11435 --token-delay 0.02 --models llama3.2,qwen2.5
A standalone fake is steered over HTTP: GET /_fake/requests, POST /_fake/reset,
POST /_fake/config {"token_delay", "models", "responder", "cannot_draw"},
POST /_fake/fail_next {"kind", "after_tokens", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from tests.fakes.background import BackgroundServer

VERSION = "0.12.6"
DEFAULT_MODELS = ["llama3.2", "qwen2.5:7b", "llava:7b"]
# What /api/show reports, by name prefix (first match wins), as real Ollama reports it for these models:
# names say nothing reliable (gemma3:1b and :270m are text-only, gemma3:4b sees; qwen3 thinks).
CAPABILITIES = (
    ("llava", ["completion", "vision"]),
    ("qwen2.5vl", ["completion", "vision", "tools"]),
    ("qwen3-vl", ["completion", "vision", "tools", "thinking"]),
    ("gemma3:1b", ["completion"]),
    ("gemma3:270m", ["completion"]),
    ("gemma3", ["completion", "vision"]),
    ("qwen3", ["completion", "tools", "thinking"]),
    ("deepseek-r1", ["completion", "thinking"]),
    ("gpt-oss", ["completion", "tools", "thinking"]),
    ("magistral", ["completion", "tools", "thinking"]),
    ("", ["completion", "tools"]),
)
CONTEXT_LENGTH = 131072
NO_IMAGE_INPUT = "this model is missing data required for image input"
CHAT_PATHS = ("/api/chat", "/v1/chat/completions")
FAILURE_KINDS = ("not_found", "error_line", "drop", "server_error", "hang", "stall", "raw")
KEEP_ALIVE_SECONDS = 300
_PERSONA = re.compile(r"You are (\w+)")
_FAMILIES = (("llava", "llama"), ("llama", "llama"), ("qwen", "qwen2"), ("gemma", "gemma3"), ("mistral", "llama"))
RECORD = web.RequestKey("record", dict)
BODY = web.RequestKey("body", dict)
FAILURE = web.RequestKey("failure", object)
_TOKEN = re.compile(r"\s*\S{1,6}|\s+")


def capabilities_of(name: str) -> list[str]:
    name = full_name(name)
    return next(list(caps) for prefix, caps in CAPABILITIES if name.startswith(prefix))


def thinks(body: dict) -> bool:
    """Whether a thinking model thinks for this request: by default yes; `think: false` stops it, except
    gpt-oss, which only takes a level ("low", "medium", "high") and thinks whatever it is sent."""
    model = str(body.get("model") or "")
    if "thinking" not in capabilities_of(model):
        return False
    return body.get("think") is not False or model.startswith("gpt-oss")


def full_name(name: str) -> str:
    """Ollama lists every model with a tag; a bare name means :latest."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def tokenize(text: str) -> list[str]:
    """Word pieces whose concatenation is exactly `text`."""
    return _TOKEN.findall(text)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _model_entry(name: str) -> dict:
    base, _, tag = full_name(name).partition(":")
    family_name = next((f for prefix, f in _FAMILIES if base.split("/")[-1].startswith(prefix)), base)
    size_match = re.search(r"(\d+(?:\.\d+)?)b", tag)
    parameter_size = f"{size_match.group(1)}B" if size_match else "3.2B"
    digest = hashlib.sha256(full_name(name).encode()).hexdigest()
    size = int(float(parameter_size[:-1]) * 620_000_000)
    return {
        "name": full_name(name),
        "model": full_name(name),
        "modified_at": "2025-10-01T10:00:00.000000000Z",
        "size": size,
        "digest": digest,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family_name,
            "families": [family_name, "clip"] if "llava" in base else [family_name],
            "parameter_size": parameter_size,
            "quantization_level": "Q4_K_M",
        },
    }


# -- replies ---------------------------------------------------------------------------------------
def _text_of(content) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def _schema_of(body: dict) -> dict | str | None:
    if body.get("format") is not None:
        return body["format"]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    if response_format.get("type") == "json_object":
        return "json"
    return None


def default_responder(body: dict) -> str:
    """A deterministic reply: valid JSON for a schema, otherwise a sentence in the persona's voice."""
    messages = body.get("messages") or []
    last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    topic = " ".join(last_user.split()[:12]) or "the idea"
    schema = _schema_of(body)
    if isinstance(schema, dict):
        return json.dumps(instance_of(schema, topic=topic))
    if schema == "json":
        return json.dumps({"reply": topic})
    system = next((_text_of(m.get("content")) for m in messages if m.get("role") == "system"), "")
    persona = _PERSONA.search(system)
    greeting = f"{persona.group(1)} here. " if persona else ""
    image_note = " In the image I see warm light and a clear subject." if _has_images(body) else ""
    return (
        f"{greeting}Thinking about “{topic}”, I would push it toward amber dusk light, "
        f"a low camera and one small telling detail in the foreground.{image_note}"
    )


def long_responder(body: dict) -> str:
    """The default answer, but a chat reply runs on far past any reply limit (as a chatty model's does)."""
    reply = default_responder(body)
    if _schema_of(body) is not None:
        return reply
    # One sentence that never ends: nothing but the token limit stops it.
    return reply.rstrip(".") + "".join(f", and then thought number {n} on the same light" for n in range(1, 120)) + "."


def instance_of(schema: dict, *, topic: str = "the idea", key: str = "", root: dict | None = None):
    """A valid instance of a JSON schema (the subset structured-output callers use)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        return instance_of(_follow(root, schema["$ref"]), topic=topic, key=key, root=root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if schema.get(combinator):
            return instance_of(schema[combinator][0], topic=topic, key=key, root=root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance_of(sub, topic=topic, key=name, root=root) for name, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 1)), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items = schema.get("items") or {"type": "string"}
        return [instance_of(items, topic=topic, key=key, root=root) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, topic=topic, key=key)


def _follow(root: dict, ref: str) -> dict:
    node = root
    for part in ref.lstrip("#/").split("/"):
        if part:
            node = node[part]
    return node


def _number(schema: dict, *, integer: bool):
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None and high is not None:
        value = (low + high) / 2
    elif low is not None:
        value = low + 1
    elif high is not None:
        value = high - 1 if high > 0 else high
    else:
        value = 7
    step = schema.get("multipleOf") or (1 if integer else None)
    if step:
        value = (value // step) * step
        if low is not None and (value < low or (value == low and "exclusiveMinimum" in schema)):
            value += step
    return int(value) if integer else float(value)


def _string(schema: dict, *, topic: str, key: str) -> str:
    if key == "summary":  # a brief's summary reads as one
        text = f"We agreed on this: {topic}."
    else:
        text = f"{topic}, {key.replace('_', ' ')}" if key else topic
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    while len(text) < low:
        text += " and more"
    return text[: int(high)] if high is not None else text


# -- server ----------------------------------------------------------------------------------------
class _Dropped(Exception):
    """The fake cut the connection on purpose."""


class FakeOllama(BackgroundServer):
    display_name = "fake Ollama"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: list[str] | None = None,
        token_delay: float = 0.0,
        responder: Callable[[dict], str] | None = None,
    ):
        super().__init__()
        self.host = host
        self.port = port
        self._initial = (list(DEFAULT_MODELS if models is None else models), token_delay)
        self._lock = threading.Lock()
        self.token_delay = token_delay
        self.responder = responder or default_responder
        self._models = [full_name(m) for m in self._initial[0]]
        self._failures: collections.deque[dict] = collections.deque()
        self._requests: list[dict] = []
        # How each streamed pull ended, in order: (model, "installed") or (model, "abandoned").
        self._pull_endings: list[tuple[str, str]] = []
        self._loaded: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        # An Ollama older than capabilities in /api/show (before 0.6): the field is simply absent.
        self.reports_capabilities = True
        # Seconds before a chat's first byte, as while Ollama loads the model.
        self.load_delay = 0.0
        # An engine (or a proxy in front of one) that pays no attention to num_predict.
        self.ignores_limits = False
        # OLLAMA_NUM_PARALLEL: chats served at once; the rest wait in the queue and get no bytes until their turn.
        self.parallel: int | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- knobs -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def models(self) -> list[str]:
        with self._lock:
            return list(self._models)

    @models.setter
    def models(self, names: list[str]) -> None:
        with self._lock:
            self._models = [full_name(n) for n in names]

    def fail_next(
        self,
        kind: str,
        *,
        after_tokens: int = 0,
        message: str | None = None,
        status: int = 500,
        path: str | None = None,
    ) -> None:
        """The next chat request (or the next request to `path`) fails. Kinds:
        not_found (404 model not found), error_line (a {"error"} line after `after_tokens` tokens,
        HTTP 200), drop (cut the connection after `after_tokens` tokens, no final line),
        server_error (HTTP `status`, default 500), hang (accept, read the body, never answer),
        stall (send `after_tokens` tokens, then nothing until reset), raw (HTTP `status` with `message` as the
        whole body: a proxy's page, or an Ollama version that answers otherwise; for `path` only)."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        with self._lock:
            self._failures.append(
                {"kind": kind, "after_tokens": after_tokens, "message": message, "status": status, "path": path}
            )

    def reset(self) -> None:
        """Back to the state at construction: models, delay, responder; no failures, no records."""
        with self._lock:
            self._models = [full_name(m) for m in self._initial[0]]
            self._failures.clear()
            self._requests.clear()
            self._pull_endings.clear()
            self._loaded.clear()
        self.token_delay = self._initial[1]
        self.responder = default_responder
        self.reports_capabilities = True
        self.load_delay = 0.0
        self.ignores_limits = False
        self.parallel = None
        self._slots = None
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release_hangs)

    # -- records -----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(r, token_times=list(r["token_times"])) for r in self._requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def pull_endings(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._pull_endings)

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] in CHAT_PATHS]

    # -- lifecycle ---------------------------------------------------------------------------------
    async def _startup(self) -> None:
        self._release = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.add_routes(
            [
                web.get("/", self._root),
                web.get("/api/version", self._version),
                web.post("/api/chat", self._chat),
                web.get("/api/tags", self._tags),
                web.get("/api/ps", self._ps),
                web.post("/api/show", self._show),
                web.post("/api/generate", self._generate),
                web.post("/api/pull", self._pull),
                web.post("/v1/chat/completions", self._openai_chat),
                web.get("/v1/models", self._openai_models),
                web.get("/_fake/requests", self._control_requests),
                web.post("/_fake/reset", self._control_reset),
                web.post("/_fake/config", self._control_config),
                web.post("/_fake/fail_next", self._control_fail_next),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        self._release_hangs()
        if self._runner:
            await self._runner.cleanup()

    def _release_hangs(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = asyncio.Event()

    # -- plumbing ----------------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler):
        if request.path.startswith("/_fake/"):
            return await handler(request)
        body = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = {
            "id": uuid.uuid4().hex,
            "method": request.method,
            "path": request.path,
            "json": body,
            "authorization": request.headers.get("Authorization"),
            "started": time.time(),
            "finished": None,
            "token_times": [],
            "status": None,
            # The client's end of the connection: requests that share it reused a pooled connection.
            "peer": (request.transport.get_extra_info("peername") or (None, None))[1] if request.transport else None,
        }
        with self._lock:
            self._requests.append(record)
        request[RECORD] = record
        request[BODY] = body if isinstance(body, dict) else {}
        try:
            response = await handler(request)
            record["status"] = response.status
            return response
        except _Dropped:
            record["status"] = "dropped"
            return web.Response(status=499)  # never sent: the transport is already closed
        finally:
            record["finished"] = time.time()

    def _take_failure(self, path: str) -> dict | None:
        with self._lock:
            for failure in self._failures:
                if failure["path"] == path or (failure["path"] is None and path in CHAT_PATHS):
                    self._failures.remove(failure)
                    return failure
        return None

    def _installed(self, model: str) -> bool:
        return bool(model) and full_name(model) in self.models

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        release = self._release
        await release.wait()
        _cut(request)

    async def _pre_reply(self, request: web.Request, body: dict, *, openai: bool) -> web.StreamResponse | None:
        """Injected failures that happen before any token, and the unknown-model check."""
        failure = self._take_failure(request.path)
        request[FAILURE] = failure
        kind = failure["kind"] if failure else None
        model = str(body.get("model") or "")
        if kind == "hang":
            return await self._hang(request)
        if kind == "server_error":
            message = failure["message"] or "llama runner process has terminated: signal: killed"
            return _error_response(failure["status"], message, openai=openai)
        if kind == "not_found" or not self._installed(model):
            return _error_response(404, f'model "{model}" not found, try pulling it first', openai=openai)
        if _has_images(body) and "vision" not in capabilities_of(model):
            return _error_response(500, NO_IMAGE_INPUT, openai=openai)
        return None

    def _reply_text(self, body: dict) -> str:
        return self.responder(body)

    async def _write_tokens(self, request, response, tokens, encode) -> int:
        """Stream the tokens, honouring token_delay and an injected mid-stream failure. Returns the count sent."""
        failure = request.get(FAILURE) or {}
        cut_after = failure.get("after_tokens", 0) if failure.get("kind") in ("error_line", "drop", "stall") else None
        record = request[RECORD]
        sent = 0
        for token in tokens:
            if cut_after is not None and sent >= cut_after:
                break
            delay = self.token_delay
            if delay:
                await asyncio.sleep(delay)
            await response.write(encode(token))
            record["token_times"].append(time.time())
            sent += 1
        if cut_after is not None:
            if failure["kind"] == "drop":
                _cut(request)
            if failure["kind"] == "stall":
                await self._hang(request)
        return sent

    def _mark_loaded(self, model: str) -> None:
        with self._lock:
            self._loaded[full_name(model)] = time.time() + KEEP_ALIVE_SECONDS

    # -- native API --------------------------------------------------------------------------------
    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        refused = await self._pre_reply(request, body, openai=False)
        if refused is not None:
            return refused
        if self.parallel:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.parallel)
            async with self._slots:  # queued: no bytes at all until a slot frees
                return await self._chat_now(request, body)
        return await self._chat_now(request, body)

    async def _chat_now(self, request: web.Request, body: dict) -> web.StreamResponse:
        if self.load_delay:
            await asyncio.sleep(self.load_delay)
        model = str(body["model"])
        self._mark_loaded(model)
        started = time.monotonic_ns()
        text = self._reply_text(body)
        thoughts = tokenize(reasoning_for(body)) if thinks(body) else []
        # num_predict bounds everything generated, reasoning included: what is left of it is the reply's.
        limit = None if self.ignores_limits else (body.get("options") or {}).get("num_predict")
        budget = None if limit is None or limit < 0 else int(limit)
        thoughts = thoughts[:budget] if budget is not None else thoughts
        tokens = tokenize(text)
        room = None if budget is None else max(budget - len(thoughts), 0)
        cut = room is not None and len(tokens) > room
        tokens = tokens[:room] if cut else tokens
        prompt_tokens = sum(len(tokenize(_text_of(m.get("content")))) for m in body.get("messages") or [])

        def final(count: int) -> dict:
            elapsed = max(time.monotonic_ns() - started, 1)
            return {
                "model": model,
                "created_at": _now_iso(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "length" if cut else "stop",
                "total_duration": elapsed + 1_334_875,
                "load_duration": 1_334_875,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": prompt_tokens * 1_000_000,
                "eval_count": count + len(thoughts),
                "eval_duration": elapsed,
            }

        if body.get("stream") is False:
            failure = request.get(FAILURE) or {}
            if failure.get("kind") in ("error_line", "drop"):
                _cut(request)
            reply = final(len(tokens))
            reply["message"]["content"] = "".join(tokens)
            if thoughts:
                reply["message"]["thinking"] = "".join(thoughts)
            return web.json_response(reply)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)

        def line(token: str, field: str = "content") -> bytes:
            message = {"role": "assistant", "content": ""}
            message[field] = token
            return _ndjson({"model": model, "created_at": _now_iso(), "message": message, "done": False})

        try:
            for thought in thoughts:
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                await response.write(line(thought, "thinking"))
            sent = await self._write_tokens(request, response, tokens, line)
            failure = request.get(FAILURE) or {}
            if failure.get("kind") == "error_line":
                message = failure["message"] or "an error was encountered while running the model: unexpected EOF"
                await response.write(_ndjson({"error": message}))
            else:
                await response.write(_ndjson(final(sent)))
            await response.write_eof()
        except (_Dropped, ConnectionResetError):
            pass
        return response

    async def _tags(self, request: web.Request) -> web.Response:
        failure = self._take_failure(request.path)
        if failure:
            return await self._path_failure(request, failure)
        return web.json_response({"models": [_model_entry(name) for name in self.models]})

    async def _ps(self, request: web.Request) -> web.Response:
        failure = self._take_failure(request.path)
        if failure:
            return await self._path_failure(request, failure)
        with self._lock:
            loaded = dict(self._loaded)
        models = []
        for name, expires in loaded.items():
            entry = _model_entry(name)
            entry.pop("modified_at")
            entry["expires_at"] = datetime.fromtimestamp(expires, UTC).isoformat()
            entry["size_vram"] = entry["size"]
            models.append(entry)
        return web.json_response({"models": models})

    async def _show(self, request: web.Request) -> web.Response:
        failure = self._take_failure(request.path)
        if failure:
            return await self._path_failure(request, failure)
        model = str(request[BODY].get("model") or request[BODY].get("name") or "")
        if not self._installed(model):
            return _error_response(404, f"model '{model}' not found", openai=False)
        entry = _model_entry(model)
        family = entry["details"]["family"]
        shown = {
            "modelfile": f"FROM {full_name(model)}\n",
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": entry["details"],
            "model_info": {"general.architecture": family, f"{family}.context_length": CONTEXT_LENGTH},
            "modified_at": entry["modified_at"],
        }
        if self.reports_capabilities:
            shown["capabilities"] = capabilities_of(model)
        return web.json_response(shown)

    async def _path_failure(self, request: web.Request, failure: dict) -> web.StreamResponse:
        if failure["kind"] == "raw":
            return web.Response(status=failure["status"], text=failure["message"] or "")
        if failure["kind"] == "hang":
            return await self._hang(request)
        if failure["kind"] == "drop":
            _cut(request)
        status = 404 if failure["kind"] == "not_found" else failure["status"]
        return _error_response(status, failure["message"] or "internal error", openai=False)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        model = str(body.get("model") or "")
        failure = self._take_failure(request.path)
        if failure:
            return await self._path_failure(request, failure)
        if not self._installed(model):
            return _error_response(404, f'model "{model}" not found, try pulling it first', openai=False)
        if body.get("keep_alive") in (0, "0", "0s") and not body.get("prompt"):
            with self._lock:
                self._loaded.pop(full_name(model), None)
            return web.json_response(
                {"model": model, "created_at": _now_iso(), "response": "", "done": True, "done_reason": "unload"}
            )
        self._mark_loaded(model)
        if not body.get("prompt"):  # an empty prompt just loads the model
            return web.json_response(
                {"model": model, "created_at": _now_iso(), "response": "", "done": True, "done_reason": "load"}
            )
        chat_like = {"model": model, "messages": [{"role": "user", "content": body["prompt"]}], **body}
        if body.get("system"):
            chat_like["messages"].insert(0, {"role": "system", "content": body["system"]})
        text = self._reply_text(chat_like)
        done = {"model": model, "created_at": _now_iso(), "done": True, "done_reason": "stop", "response": ""}
        if body.get("stream") is False:
            return web.json_response(dict(done, response=text, eval_count=len(tokenize(text))))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for token in tokenize(text):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            await response.write(_ndjson({"model": model, "created_at": _now_iso(), "response": token, "done": False}))
        await response.write(_ndjson(dict(done, eval_count=len(tokenize(text)))))
        await response.write_eof()
        return response

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        model = str(body.get("model") or body.get("name") or "")
        if not model:
            return _error_response(400, "model is required", openai=False)
        failure = self._take_failure(request.path)
        if failure and failure["kind"] == "error_line":
            # What Ollama streams for a name the registry does not have.
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            await response.write(_ndjson({"status": "pulling manifest"}))
            await response.write(_ndjson({"error": failure["message"] or "pull model manifest: file does not exist"}))
            await response.write_eof()
            return response
        if failure and failure["kind"] == "stall":
            # A registry that stops sending: Ollama's progress lines stop too, and the request stays open.
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            await response.write(_ndjson({"status": "pulling manifest"}))
            await self._hang(request)
            return response
        if failure:
            return await self._path_failure(request, failure)
        digest = "sha256:" + hashlib.sha256(full_name(model).encode()).hexdigest()
        total = _model_entry(model)["size"]
        steps = [{"status": "pulling manifest"}]
        steps += [
            {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total, "completed": total * i // 4}
            for i in range(1, 5)
        ]
        steps += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]

        def install() -> None:
            with self._lock:
                if full_name(model) not in self._models:
                    self._models.append(full_name(model))

        def ended(how: str) -> None:
            with self._lock:
                self._pull_endings.append((model, how))

        if body.get("stream") is False:
            install()
            return web.json_response({"status": "success"})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            for step in steps:
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                if request.transport is None or request.transport.is_closing():
                    ended("abandoned")  # the client went away: Ollama stops the pull, nothing is installed
                    return response
                if step["status"] == "success":
                    install()
                    ended("installed")
                await response.write(_ndjson(step))
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response

    # -- OpenAI-compatible API ---------------------------------------------------------------------
    async def _openai_models(self, request: web.Request) -> web.Response:
        created = int(time.time())
        data = [{"id": name, "object": "model", "created": created, "owned_by": "library"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = request[BODY]
        refused = await self._pre_reply(request, body, openai=True)
        if refused is not None:
            return refused
        model = str(body["model"])
        self._mark_loaded(model)
        text = self._reply_text(body)
        tokens = tokenize(text)
        limit = body.get("max_tokens")
        cut = isinstance(limit, int) and 0 <= limit < len(tokens)
        tokens = tokens[:limit] if cut else tokens
        finish_reason = "length" if cut else "stop"
        completion_id = f"chatcmpl-{uuid.uuid4().int % 1000}"
        created = int(time.time())
        prompt_tokens = sum(len(tokenize(_text_of(m.get("content")))) for m in body.get("messages") or [])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]

        if not body.get("stream"):
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": usage,
                }
            )

        def chunk(delta: dict, finish_reason: str | None) -> dict:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            sent = await self._write_tokens(
                request, response, tokens, lambda t: _sse(chunk({"role": "assistant", "content": t}, None))
            )
            failure = request.get(FAILURE) or {}
            if failure.get("kind") == "error_line":
                message = failure["message"] or "an error was encountered while running the model: unexpected EOF"
                await response.write(_sse({"error": {"message": message, "type": "api_error", "param": None}}))
            else:
                await response.write(_sse(chunk({"role": "assistant", "content": ""}, finish_reason)))
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage["completion_tokens"] = sent
                    final = dict(chunk({}, None), choices=[], usage=usage)
                    await response.write(_sse(final))
                await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (_Dropped, ConnectionResetError):
            pass
        return response

    # -- control (for a standalone fake) -----------------------------------------------------------
    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _control_config(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "token_delay" in body:
            self.token_delay = float(body["token_delay"])
        if "models" in body:
            self.models = list(body["models"])
        if "responder" in body:
            try:
                self.responder = _named_responder(body["responder"], body.get("cannot_draw") or ())
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"token_delay": self.token_delay, "models": self.models})

    async def _control_fail_next(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.fail_next(**body)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})


def _named_responder(name: str, cannot_draw) -> Callable[[dict], str]:
    """A responder a standalone fake can be switched to: "default", or "team" (tests/fakes/critic.py)."""
    if name == "default":
        return default_responder
    if name == "long":
        return long_responder
    if name == "team":
        from tests.fakes.critic import TeamResponder  # it builds on this module's default responder

        return TeamResponder(cannot_draw=tuple(str(word) for word in cannot_draw))
    raise ValueError(f"unknown responder {name!r}: 'default', 'long' or 'team'")


def reasoning_for(body: dict) -> str:
    """What a thinking model thinks before it answers (streamed in message.thinking)."""
    return "Let me think about what the artist wants here. The mood matters most, then the framing. "


def _has_images(body: dict) -> bool:
    return any(m.get("images") for m in body.get("messages") or []) or any(
        isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
        for m in body.get("messages") or []
    )


def _cut(request: web.Request):
    """Close the connection abruptly: no final line, no end of the chunked body."""
    if request.transport is not None:
        request.transport.close()
    raise _Dropped()


def _ndjson(data: dict) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _sse(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _error_response(status: int, message: str, *, openai: bool) -> web.Response:
    if openai:
        payload = {"error": {"message": message, "type": "api_error", "param": None, "code": None}}
    else:
        payload = {"error": message}
    return web.json_response(payload, status=status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Protocol-faithful fake Ollama for tests, e2e and benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11435)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    args = parser.parse_args(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    fake = FakeOllama(host=args.host, port=args.port, models=models, token_delay=args.token_delay).start()
    print(f"fake Ollama listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
