"""A protocol-faithful fake ComfyUI: real HTTP + websocket on loopback (aiohttp, like ComfyUI).

Built from the recordings in tests/recordings/comfyui/. One background worker runs the
queue FIFO, one prompt at a time, and streams execution messages only to the websocket of the
client_id that submitted the prompt (status updates go to every socket, as in ComfyUI).
Samplers report `progress` per step (and send preview frames); output nodes produce real files:
PNG, animated WEBP/PNG, GIF and small real MP4/WEBM clips from tests/fakes/assets.

In-process:  fake = FakeComfyUI(step_delay=0.01).start(); fake.url; ...; fake.stop()
Standalone:  python -m tests.fakes.comfyui --port 8189 --step-delay 0.05 --checkpoints a.safetensors,b.safetensors
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import io
import json
import mimetypes
import random
import string
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.fakes.background import BackgroundServer
from tests.fakes.comfyui_nodes import (
    SAMPLER_NODES,
    STEPPED_NODES,
    node_definitions,
    recorded_definitions,
    validate_prompt,
)

ASSETS = Path(__file__).parent / "assets"
DEFAULT_CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}
SYSTEM_STATS = {
    "system": {
        "os": "posix",
        "ram_total": 25276502016,
        "ram_free": 24286466048,
        "comfyui_version": "0.3.64",
        "required_frontend_version": "1.27.10",
        "installed_templates_version": "0.1.95",
        "required_templates_version": "0.1.95",
        "python_version": "3.11.7",
        "pytorch_version": "2.9.1+cu128",
        "embedded_python": False,
        "argv": ["main.py", "--listen"],
    },
    "devices": [
        {
            "name": "cpu",
            "type": "cpu",
            "index": None,
            "vram_total": 25276502016,
            "vram_free": 24286466048,
            "torch_vram_total": 25276502016,
            "torch_vram_free": 24286466048,
        }
    ],
}
MAX_SIDE = 1024  # generated images are solid colours; cap their size to keep the fake fast


class _Interrupted(Exception):
    pass


class _Failed(Exception):
    def __init__(self, message: str, exception_type: str):
        super().__init__(message)
        self.message = message
        self.exception_type = exception_type


@dataclass
class _QueueItem:
    number: int
    prompt_id: str
    prompt: dict
    client_id: str | None
    outputs: list[str]
    failure: dict | None = None
    hang: bool = False
    messages: list = field(default_factory=list)
    results: dict = field(default_factory=dict)

    def queue_entry(self) -> list:
        return [self.number, self.prompt_id, self.prompt, {"client_id": self.client_id}, self.outputs]


class FakeComfyUI(BackgroundServer):
    display_name = "fake ComfyUI"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        checkpoints: list[str] | None = None,
        step_delay: float = 0.01,
        node_delay: float = 0.0,
        steps: int | None = None,
        previews: bool = True,
    ):
        super().__init__()
        self.host = host
        self.port = port
        # Knobs: safe to change from any thread while the server runs.
        self.step_delay = step_delay
        self.node_delay = node_delay
        self.steps = steps  # overrides the workflow's sampler steps when set
        self.previews = previews
        # (content type, body) that /view answers for every file instead of the file: a hostile or
        # broken server, or anyone on the path to a remote one over plain HTTP.
        self.view_override: tuple[str, bytes] | None = None
        # /view streams its answer in chunks without a Content-Length, as a proxy that compresses or buffers may.
        self.view_chunked = False
        self._lock = threading.Lock()
        self._checkpoints = list(DEFAULT_CHECKPOINTS if checkpoints is None else checkpoints)
        # Files of the other models folders (diffusion_models, text_encoders, vae, clip_vision, loras).
        self._models: dict[str, list[str]] = {}
        self._removed_nodes: set[str] = set()
        self._next_failure: dict | None = None
        self._hang_next = False
        # path -> [(status, body), ...]: the next requests to that path (no query, no ids: "/history", "/view")
        # answer these instead, in order; any endpoint can fail like a real server behind a proxy would.
        self._path_failures: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._hits: collections.Counter = collections.Counter()
        # Records (read them through the properties below).
        self._prompts: list[dict] = []
        self._interrupts: list[str | None] = []
        self._deletes: list[str] = []
        # POST /free calls: {"body", "at"} (wall-clock, comparable with the fake Ollama's request times).
        self._frees: list[dict] = []
        self._uploads: list[dict] = []
        # Server state, touched only on the server's event loop (plus snapshots under the lock).
        self._files: dict[tuple[str, str, str], bytes] = {("input", "", "example.png"): _png(64, 64, (200, 120, 40))}
        self._counters: collections.Counter = collections.Counter()
        self._cache: dict[str, dict | None] = {}
        self._pending: collections.deque[_QueueItem] = collections.deque()
        self._running: _QueueItem | None = None
        self._last_node: str | None = None
        self._history: dict[str, dict] = {}
        self._number = 0
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._client_features: dict[str, dict] = {}
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None
        self._interrupt: asyncio.Event | None = None

    # -- knobs -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def checkpoints(self) -> list[str]:
        with self._lock:
            return list(self._checkpoints)

    def set_checkpoints(self, checkpoints: list[str]) -> None:
        with self._lock:
            self._checkpoints = list(checkpoints)

    def set_models(self, folder: str, files: list[str]) -> None:
        """What ComfyUI/models/<folder> holds, as its loaders' dropdowns list it."""
        with self._lock:
            self._models[folder] = list(files)

    def remove_nodes(self, *node_classes: str) -> None:
        """An older ComfyUI, or one missing a custom node pack: these classes vanish from /object_info and a prompt
        using them is refused as ComfyUI refuses it (invalid_prompt: "node X does not exist")."""
        with self._lock:
            self._removed_nodes.update(node_classes)

    def fail_next_with_execution_error(
        self, node_type: str | None = None, message: str = "Fake failure", exception_type: str = "RuntimeError"
    ) -> None:
        """The next accepted prompt fails at its first node of `node_type` (default: its sampler or
        last node) with an execution_error."""
        with self._lock:
            self._next_failure = {"node_type": node_type, "message": message, "exception_type": exception_type}

    def hang_next(self) -> None:
        """The next accepted prompt starts and then never finishes (until interrupted)."""
        with self._lock:
            self._hang_next = True

    # -- records -------------------------------------------------------------------
    @property
    def prompts(self) -> list[dict]:
        """Accepted prompts: {prompt_id, number, client_id, prompt}."""
        with self._lock:
            return list(self._prompts)

    @property
    def interrupts(self) -> list[str | None]:
        with self._lock:
            return list(self._interrupts)

    @property
    def deletes(self) -> list[str]:
        with self._lock:
            return list(self._deletes)

    @property
    def frees(self) -> list[dict]:
        with self._lock:
            return list(self._frees)

    @property
    def uploads(self) -> list[dict]:
        with self._lock:
            return list(self._uploads)

    def connected_clients(self) -> list[str]:
        with self._lock:
            return list(self._sockets)

    def is_idle(self) -> bool:
        with self._lock:
            return self._running is None and not self._pending

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_idle():
            if time.monotonic() > deadline:
                raise TimeoutError("fake ComfyUI still busy")
            time.sleep(0.01)

    def fail_path(self, path: str, status: int = 503, *, times: int = 1, body: str = "") -> None:
        """The next ``times`` requests to ``path`` ("/prompt", "/history", "/view", "/upload/image", ...) answer
        ``status`` with ``body`` (a 5xx from a proxy, or ComfyUI's own plain-text 500)."""
        with self._lock:
            self._path_failures[path].extend([(status, body or f"fake failure {status}")] * times)

    def hits(self, path: str) -> int:
        """How many requests reached ``path`` (failed ones included)."""
        with self._lock:
            return self._hits[path]

    def drop_sockets(self) -> None:
        """Close every /ws connection while the server runs on (a proxy or a network blip): prompts keep running
        and finish unwatched, as in ComfyUI."""

        async def close_all() -> None:
            for ws in list(self._sockets.values()):
                await ws.close(code=1001, message=b"going away")

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(5)

    def running_prompt_id(self) -> str | None:
        with self._lock:
            return self._running.prompt_id if self._running else None

    @web.middleware
    async def _injected_failures(self, request: web.Request, handler):
        path = "/history" if request.path.startswith("/history/") else request.path
        with self._lock:
            self._hits[path] += 1
            queued = self._path_failures.get(path)
            failure = queued.popleft() if queued else None
        if failure is not None:
            status, body = failure
            return web.Response(status=status, text=body)
        return await handler(request)

    # -- lifecycle -------------------------------------------------------------------
    async def _startup(self) -> None:
        self._wakeup = asyncio.Event()
        self._interrupt = asyncio.Event()
        app = web.Application(client_max_size=200 * 1024 * 1024, middlewares=[self._injected_failures])
        app.add_routes(
            [
                web.get("/ws", self._ws),
                web.post("/prompt", self._post_prompt),
                web.get("/prompt", self._get_prompt),
                web.get("/queue", self._get_queue),
                web.post("/queue", self._post_queue),
                web.post("/interrupt", self._post_interrupt),
                web.post("/free", self._post_free),
                web.get("/history", self._get_history),
                web.get("/history/{prompt_id}", self._get_history_item),
                web.post("/history", self._post_history),
                web.get("/view", self._view),
                web.get("/object_info", self._object_info),
                web.get("/object_info/{node_class}", self._object_info_one),
                web.post("/upload/image", self._upload_image),
                web.get("/system_stats", self._system_stats),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._worker = asyncio.create_task(self._work())

    async def _shutdown(self) -> None:
        if self._worker:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        for ws in list(self._sockets.values()):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    # -- websocket -------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        with self._lock:
            self._sockets[sid] = ws  # a reconnect under the same id replaces the old socket, as in ComfyUI
        try:
            await self._send_json(
                ws, "status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}, "sid": sid}
            )
            running = self._running
            if running and running.client_id == sid and self._last_node is not None:
                await self._send_json(ws, "executing", {"node": self._last_node})
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(payload, dict) and payload.get("type") == "feature_flags":
                    self._client_features[sid] = payload.get("data") or {}
                    await self._send_json(ws, "feature_flags", SERVER_FEATURES)
        finally:
            with self._lock:
                if self._sockets.get(sid) is ws:
                    del self._sockets[sid]
                    self._client_features.pop(sid, None)
        return ws

    async def _send_json(self, ws: web.WebSocketResponse, kind: str, data: dict) -> None:
        try:
            await ws.send_str(json.dumps({"type": kind, "data": data}))
        except (ConnectionError, RuntimeError):
            pass  # client went away; ComfyUI just drops the message too

    async def _send(self, kind: str, data: dict, sid: str | None) -> None:
        """To one client's socket, or to every socket when sid is None."""
        targets = list(self._sockets.values()) if sid is None else [self._sockets.get(sid)]
        for ws in targets:
            if ws is not None:
                await self._send_json(ws, kind, data)

    async def _send_preview(self, sid: str | None, image: bytes, prompt_id: str, node: str) -> None:
        ws = self._sockets.get(sid) if sid else None
        if ws is None:
            return
        if self._client_features.get(sid, {}).get("supports_preview_metadata"):
            metadata = json.dumps(
                {
                    "node_id": node,
                    "prompt_id": prompt_id,
                    "display_node_id": node,
                    "parent_node_id": None,
                    "real_node_id": node,
                    "image_type": "image/png",
                }
            ).encode()
            frame = struct.pack(">I", 4) + struct.pack(">I", len(metadata)) + metadata + image
        else:
            frame = struct.pack(">I", 1) + struct.pack(">I", 2) + image
        try:
            await ws.send_bytes(frame)
        except (ConnectionError, RuntimeError):
            pass

    def _remaining(self) -> int:
        return len(self._pending) + (1 if self._running else 0)

    async def _broadcast_status(self) -> None:
        await self._send("status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}}, None)

    # -- HTTP ---------------------------------------------------------------------
    def _definitions(self) -> dict:
        with self._lock:
            checkpoints, removed = list(self._checkpoints), set(self._removed_nodes)
            models = {folder: list(files) for folder, files in self._models.items()}
        inputs = [_join(sub, name) for (kind, sub, name) in self._files if kind == "input"]
        # The hand-written nodes (their errors match the recordings exactly) over every other built-in one.
        definitions = {**recorded_definitions(models), **node_definitions(checkpoints, inputs)}
        return {name: spec for name, spec in definitions.items() if name not in removed}

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _server_error()  # ComfyUI's handler raises on an unreadable body
        if "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        if not isinstance(prompt, dict):
            error = {
                "type": "invalid_prompt",
                "message": "Invalid prompt",
                "details": "prompt is not a dict",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        input_files = {_join(sub, name) for (kind, sub, name) in self._files if kind == "input"}
        try:
            ok, error, outputs, node_errors = validate_prompt(prompt, self._definitions(), input_files)
        except Exception:  # ComfyUI lets these escape its handler, and aiohttp answers 500
            return _server_error()
        if not ok:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        client_id = body.get("client_id")
        with self._lock:
            number = self._number
            self._number += 1
            item = _QueueItem(
                number, prompt_id, prompt, client_id, outputs, failure=self._next_failure, hang=self._hang_next
            )
            self._next_failure, self._hang_next = None, False
            self._prompts.append(
                {"prompt_id": prompt_id, "number": number, "client_id": client_id, "prompt": prompt, "at": time.time()}
            )
            self._pending.append(item)
        self._wakeup.set()
        await self._broadcast_status()
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": self._remaining()}})

    async def _get_queue(self, request: web.Request) -> web.Response:
        running = [self._running.queue_entry()] if self._running else []
        return web.json_response(
            {"queue_running": running, "queue_pending": [item.queue_entry() for item in self._pending]}
        )

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        with self._lock:
            if body.get("clear"):
                self._pending.clear()
            for prompt_id in body.get("delete") or []:
                self._deletes.append(prompt_id)
                for item in list(self._pending):
                    if item.prompt_id == prompt_id:
                        self._pending.remove(item)
        await self._broadcast_status()
        return web.Response(status=200)

    async def _post_free(self, request: web.Request) -> web.Response:
        """ComfyUI unloads its models and frees memory; it answers 200 with an empty body."""
        body = await _json_body(request)
        with self._lock:
            self._frees.append({"body": body, "at": time.time()})
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        prompt_id = body.get("prompt_id")
        with self._lock:
            self._interrupts.append(prompt_id)
        running = self._running
        # With a prompt_id ComfyUI only interrupts if that prompt is the running one.
        if running and (not prompt_id or running.prompt_id == prompt_id):
            self._interrupt.set()
        elif not prompt_id:
            self._interrupt.set()  # a stale flag, cleared when the next prompt starts (as in ComfyUI)
        return web.Response(status=200)

    async def _get_history(self, request: web.Request) -> web.Response:
        items = list(self._history.items())
        max_items = request.query.get("max_items")
        if max_items and max_items.isdigit():
            items = items[-int(max_items) :]
        return web.json_response(dict(items))

    async def _get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        record = self._history.get(prompt_id)
        return web.json_response({prompt_id: record} if record else {})

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("clear"):
            self._history.clear()
        for prompt_id in body.get("delete") or []:
            self._history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _view(self, request: web.Request) -> web.Response:
        filename = request.query.get("filename")
        if not filename:
            return web.Response(status=400)
        key = (request.query.get("type") or "output", request.query.get("subfolder") or "", filename)
        data = self._files.get(key)
        if data is None:
            return web.Response(status=404)
        if self.view_override is not None:
            content_type, body = self.view_override
            return web.Response(body=body, headers={"Content-Type": content_type})
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if self.view_chunked:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(data), 65536):
                await response.write(data[start : start + 65536])
            await response.write_eof()
            return response
        return web.Response(
            body=data, content_type=content_type, headers={"Content-Disposition": f'filename="{filename}"'}
        )

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._definitions())

    async def _object_info_one(self, request: web.Request) -> web.Response:
        node_class = request.match_info["node_class"]
        definitions = self._definitions()
        return web.json_response({node_class: definitions[node_class]} if node_class in definitions else {})

    async def _upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        overwrite = post.get("overwrite") in ("true", "1")
        kind = post.get("type") or "input"
        subfolder = post.get("subfolder") or ""
        data = image.file.read()
        name = Path(image.filename).name
        if not overwrite:
            stem, suffix = Path(name).stem, Path(name).suffix
            counter = 1
            while (kind, subfolder, name) in self._files and self._files[(kind, subfolder, name)] != data:
                name = f"{stem} ({counter}){suffix}"
                counter += 1
        self._files[(kind, subfolder, name)] = data
        with self._lock:
            self._uploads.append(
                {"name": name, "subfolder": subfolder, "type": kind, "overwrite": overwrite, "size": len(data)}
            )
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def _system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(SYSTEM_STATS)

    # -- execution ---------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            with self._lock:
                item = self._pending.popleft()
                self._running = item
            await self._broadcast_status()
            stopped = False
            try:
                await self._execute(item)
            except asyncio.CancelledError:
                # Stopped, as a killed ComfyUI stops: the prompt never finishes, nothing says it did.
                stopped = True
                raise
            finally:
                if not stopped:
                    self._settle(item)
                else:
                    with self._lock:
                        self._running = None
            await self._announce_settled(item)

    def _settle(self, item: _QueueItem) -> None:
        self._history[item.prompt_id] = self._history_record(item)
        with self._lock:
            self._running = None
            self._last_node = None

    async def _announce_settled(self, item: _QueueItem) -> None:
        await self._broadcast_status()
        await self._send("executing", {"node": None, "prompt_id": item.prompt_id}, item.client_id)

    async def _message(self, item: _QueueItem, kind: str, data: dict, *, record: bool = False) -> None:
        if record:
            item.messages.append([kind, data])
        await self._send(kind, data, item.client_id)

    async def _execute(self, item: _QueueItem) -> None:
        self._interrupt.clear()
        prompt_id = item.prompt_id
        await self._message(item, "execution_start", {"prompt_id": prompt_id, "timestamp": _now()}, record=True)
        order = _execution_order(item.prompt, item.outputs)
        signatures = _signatures(item.prompt, order, self._input_hash)
        cached = [node for node in order if signatures[node] in self._cache]
        await self._message(
            item, "execution_cached", {"nodes": cached, "prompt_id": prompt_id, "timestamp": _now()}, record=True
        )
        for node in cached:
            output = self._cache[signatures[node]]
            if output:
                item.results[node] = output
                await self._message(
                    item, "executed", {"node": node, "display_node": node, "output": output, "prompt_id": prompt_id}
                )
        failure_node = self._failure_node(item, [node for node in order if node not in cached])
        states: dict[str, dict] = {}
        done: list[str] = []
        node = None
        try:
            for node in order:
                if node in cached:
                    continue
                if self._interrupt.is_set():
                    raise _Interrupted
                class_type = item.prompt[node]["class_type"]
                await self._progress_state(item, states, node, "running", 0.0, 1.0)
                self._last_node = node
                await self._message(item, "executing", {"node": node, "display_node": node, "prompt_id": prompt_id})
                if node == failure_node:
                    raise _Failed(item.failure["message"], item.failure["exception_type"])
                if item.hang:
                    await self._interrupt.wait()
                    raise _Interrupted
                if class_type in SAMPLER_NODES:
                    await self._steps(item, states, node, self._sampler_steps(item, node), previews=self.previews)
                elif class_type in STEPPED_NODES:
                    await self._steps(item, states, node, STEPPED_NODES[class_type], previews=False)
                elif self.node_delay:
                    await asyncio.sleep(self.node_delay)
                if self._interrupt.is_set():
                    raise _Interrupted
                output = await self._run_output_node(item, node)
                self._cache[signatures[node]] = output
                if output:
                    item.results[node] = output
                    await self._message(
                        item, "executed", {"node": node, "display_node": node, "output": output, "prompt_id": prompt_id}
                    )
                done.append(node)
                await self._progress_state(item, states, node, "finished", states[node]["max"], states[node]["max"])
        except _Interrupted:
            node_type = item.prompt[node]["class_type"] if node else None
            data = {
                "prompt_id": prompt_id,
                "node_id": node,
                "node_type": node_type,
                "executed": done,
                "timestamp": _now(),
            }
            await self._message(item, "execution_interrupted", data, record=True)
            return
        except _Failed as failure:
            data = {
                "prompt_id": prompt_id,
                "node_id": node,
                "node_type": item.prompt[node]["class_type"],
                "executed": done,
                "exception_message": failure.message,
                "exception_type": failure.exception_type,
                "traceback": ['  File "/fake/ComfyUI/execution.py", line 496, in execute\n'],
                "current_inputs": {},
                "current_outputs": {},
                "timestamp": _now(),
            }
            await self._message(item, "execution_error", data, record=True)
            return
        await self._message(item, "execution_success", {"prompt_id": prompt_id, "timestamp": _now()}, record=True)

    def _failure_node(self, item: _QueueItem, runnable: list[str]) -> str | None:
        if not item.failure or not runnable:
            return None
        wanted = item.failure.get("node_type")
        if wanted:
            return next((node for node in runnable if item.prompt[node]["class_type"] == wanted), None)
        samplers = [node for node in runnable if item.prompt[node]["class_type"] in SAMPLER_NODES]
        return samplers[0] if samplers else runnable[-1]

    async def _progress_state(self, item, states, node, state, value, maximum) -> None:
        states[node] = {
            "value": value,
            "max": maximum,
            "state": state,
            "node_id": node,
            "prompt_id": item.prompt_id,
            "display_node_id": node,
            "parent_node_id": None,
            "real_node_id": node,
        }
        await self._message(item, "progress_state", {"prompt_id": item.prompt_id, "nodes": dict(states)})

    def _sampler_steps(self, item: _QueueItem, node: str) -> int:
        steps = item.prompt[node].get("inputs", {}).get("steps")
        return self.steps or (steps if isinstance(steps, int) and steps > 0 else 4)

    async def _steps(self, item: _QueueItem, states: dict, node: str, steps: int, *, previews: bool) -> None:
        metadata = self._client_features.get(item.client_id or "", {}).get("supports_preview_metadata")
        for step in range(1, steps + 1):
            if self.step_delay:
                await asyncio.sleep(self.step_delay)
            if self._interrupt.is_set():
                raise _Interrupted  # ComfyUI checks the flag in the sampler callback, i.e. every step
            await self._progress_state(item, states, node, "running", step, steps)
            progress = {"value": step, "max": steps, "prompt_id": item.prompt_id, "node": node}
            preview = _png(16, 16, _colour(f"{item.prompt_id}:{step}")) if previews else None
            if metadata and preview:
                await self._send_preview(item.client_id, preview, item.prompt_id, node)
            await self._message(item, "progress", progress)
            if preview and not metadata:
                await self._send_preview(item.client_id, preview, item.prompt_id, node)

    # -- outputs -------------------------------------------------------------------
    async def _run_output_node(self, item: _QueueItem, node: str) -> dict | None:
        class_type = item.prompt[node]["class_type"]
        inputs = item.prompt[node].get("inputs", {})
        width, height, batch = _image_params(item.prompt, node)
        colour = _colour(json.dumps(item.prompt, sort_keys=True) + node)
        prefix = str(inputs.get("filename_prefix") or "ComfyUI")
        if class_type == "SaveImage":
            # SaveImage embeds the API graph it ran as the PNG's "prompt" text chunk, as ComfyUI does.
            picture = _png(width, height, colour, prompt=item.prompt)
            files = [self._store(prefix, ".png", picture) for _ in range(batch)]
            return {"images": files}
        if class_type == "PreviewImage":
            temp_prefix = "ComfyUI_temp_" + "".join(random.choices(string.ascii_lowercase, k=5))
            return {
                "images": [
                    self._store(temp_prefix, ".png", _png(width, height, colour), kind="temp") for _ in range(batch)
                ]
            }
        if class_type == "SaveAnimatedWEBP":
            return {
                "images": [self._store(prefix, ".webp", _animated(width, height, colour, "WEBP"))],
                "animated": [True],
            }
        if class_type == "SaveAnimatedPNG":
            return {
                "images": [self._store(prefix, ".png", _animated(width, height, colour, "PNG"))],
                "animated": [True],
            }
        if class_type == "SaveVideo":
            if width % 2 or height % 2:  # what libx264 says about odd sizes (run_r1_runtime_error)
                raise _Failed(
                    "[Errno 542398533] Generic error in an external library: 'avcodec_open2(\"libx264\", {})'; "
                    f"last error log: [libx264] width not divisible by 2 ({width}x{height})\n",
                    "av.error.ExternalError",
                )
            return {"images": [self._store(prefix, ".mp4", _asset("sample.mp4"))], "animated": [True]}
        if class_type == "SaveWEBM":
            return {"images": [self._store(prefix, ".webm", _asset("sample.webm"))], "animated": [True]}
        if class_type == "VHS_VideoCombine":
            return {"gifs": [self._vhs_file(inputs, width, height, colour)]}
        if class_type == "SaveImageWebsocket":
            for index in range(batch):
                await self._message(
                    item, "progress", {"value": index, "max": batch, "prompt_id": item.prompt_id, "node": node}
                )
                await self._send_preview(item.client_id, _png(width, height, colour), item.prompt_id, node)
        return None

    def _vhs_file(self, inputs: dict, width: int, height: int, colour) -> dict:
        fmt = inputs.get("format") or "image/gif"
        prefix = str(inputs.get("filename_prefix") or "AnimateDiff")
        kind = "output" if inputs.get("save_output", True) else "temp"
        if fmt == "video/h264-mp4":
            suffix, data = ".mp4", _asset("sample.mp4")
        elif fmt == "video/webm":
            suffix, data = ".webm", _asset("sample.webm")
        elif fmt == "image/webp":
            suffix, data = ".webp", _animated(width, height, colour, "WEBP")
        else:
            suffix, data = ".gif", _animated(width, height, colour, "GIF")
        entry = self._store(prefix, suffix, data, kind=kind, vhs=True)
        entry.update(
            {
                "format": fmt,
                "frame_rate": inputs.get("frame_rate", 8),
                "workflow": entry["filename"].rsplit(".", 1)[0] + ".png",
                "fullpath": f"/fake/ComfyUI/{kind}/{_join(entry['subfolder'], entry['filename'])}",
            }
        )
        return entry

    def _store(self, prefix: str, suffix: str, data: bytes, *, kind: str = "output", vhs: bool = False) -> dict:
        subfolder, _, name = prefix.rpartition("/")
        self._counters[(kind, subfolder, name)] += 1
        counter = self._counters[(kind, subfolder, name)]
        filename = f"{name}_{counter:05}{suffix}" if vhs else f"{name}_{counter:05}_{suffix}"
        self._files[(kind, subfolder, filename)] = data
        return {"filename": filename, "subfolder": subfolder, "type": kind}

    def _input_hash(self, name: str) -> str:
        subfolder, _, filename = str(name).rpartition("/")
        return hashlib.sha256(self._files.get(("input", subfolder, filename), b"")).hexdigest()

    def _history_record(self, item: _QueueItem) -> dict:
        success = bool(item.messages) and item.messages[-1][0] == "execution_success"
        return {
            "prompt": item.queue_entry(),
            "outputs": item.results,
            "status": {
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": item.messages,
            },
            "meta": {
                node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
                for node in item.results
            },
        }


def _execution_order(prompt: dict, outputs: list[str]) -> list[str]:
    """Dependencies first, only the nodes the outputs need."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        for value in prompt[node].get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt:
                visit(str(value[0]))
        order.append(node)

    for output in outputs:
        visit(output)
    return order


def _signatures(prompt: dict, order: list[str], input_hash) -> dict[str, str]:
    """Cache keys like ComfyUI's: class + literal inputs + the keys of linked nodes (+ file hash for LoadImage)."""
    signatures: dict[str, str] = {}
    for node in order:
        spec = prompt[node]
        inputs = {}
        for name, value in spec.get("inputs", {}).items():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in signatures:
                inputs[name] = [signatures[str(value[0])], value[1]]
            else:
                inputs[name] = value
        if spec["class_type"] == "LoadImage":
            inputs["__file__"] = input_hash(spec.get("inputs", {}).get("image", ""))
        raw = json.dumps([spec["class_type"], inputs], sort_keys=True, default=str)
        signatures[node] = hashlib.sha256(raw.encode()).hexdigest()
    return signatures


def _image_params(prompt: dict, node: str) -> tuple[int, int, int]:
    """Size and batch of the images reaching `node`: from the nearest upstream node that sets them."""
    width = height = batch = None
    queue, seen = collections.deque([node]), set()
    while queue:
        current = queue.popleft()
        if current in seen or current not in prompt:
            continue
        seen.add(current)
        inputs = prompt[current].get("inputs", {})
        if width is None and isinstance(inputs.get("width"), int) and inputs["width"] > 0:
            width, height = inputs["width"], inputs.get("height") if isinstance(inputs.get("height"), int) else 512
        if batch is None and isinstance(inputs.get("batch_size"), int):
            batch = inputs["batch_size"]
        for value in inputs.values():
            if isinstance(value, list) and len(value) == 2:
                queue.append(str(value[0]))
    return min(width or 512, MAX_SIDE), min(max(height or 512, 1), MAX_SIDE), max(1, min(batch or 1, 16))


def _png(width: int, height: int, colour, *, prompt: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    info = None
    if prompt is not None:
        info = PngInfo()
        info.add_text("prompt", json.dumps(prompt))
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _animated(width: int, height: int, colour, fmt: str) -> bytes:
    width, height = min(width, 256), min(height, 256)
    frames = [Image.new("RGB", (width, height), tuple((c + shift) % 256 for c in colour)) for shift in (0, 60, 120)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buffer.getvalue()


def _asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def _colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    return digest[0], digest[1], digest[2]


def _join(subfolder: str, name: str) -> str:
    return f"{subfolder}/{name}" if subfolder else name


def _now() -> int:
    return int(time.time() * 1000)


def _server_error() -> web.Response:
    """What aiohttp answers when a handler raises."""
    return web.Response(
        status=500, text="500 Internal Server Error\n\nServer got itself in trouble", content_type="text/plain"
    )


async def _json_body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Protocol-faithful fake ComfyUI for tests, e2e and benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8189)
    parser.add_argument("--step-delay", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=None, help="override the workflows' sampler steps")
    parser.add_argument("--checkpoints", default=",".join(DEFAULT_CHECKPOINTS))
    parser.add_argument("--no-previews", action="store_true")
    parser.add_argument(
        "--models", action="append", default=[], metavar="FOLDER=FILE,FILE", help="files of a models folder (loras=…)"
    )
    args = parser.parse_args(argv)
    checkpoints = [name.strip() for name in args.checkpoints.split(",") if name.strip()]
    fake = FakeComfyUI(
        host=args.host,
        port=args.port,
        checkpoints=checkpoints,
        step_delay=args.step_delay,
        steps=args.steps,
        previews=not args.no_previews,
    ).start()
    for folder_files in args.models:
        folder, _, files = folder_files.partition("=")
        fake.set_models(folder.strip(), [name.strip() for name in files.split(",") if name.strip()])
    print(f"fake ComfyUI listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
