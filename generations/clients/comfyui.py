"""Synchronous ComfyUI client (HTTP + /ws), used from Celery worker threads and processes.

A run goes: open `events(client_id)` FIRST, then `submit(graph, client_id)`, then read events
until `Executing(node=None)` for the prompt. ComfyUI sends a prompt's messages only to the
socket that was connected under the submitting client_id when they were emitted, so a socket
opened after submit can miss the start (or, for a fast or cached prompt, the whole run).

Only studio.errors.TransientError / PermanentError leave this module.
"""

from __future__ import annotations

import functools
import json
import mimetypes
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from generations.clients.comfyui_events import Event, parse_message
from studio.errors import EngineError, PermanentError, TransientError

DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
# Full-size previews (SaveImageWebsocket) can be several MB; websockets' default cap is 1 MiB.
MAX_WS_FRAME_BYTES = 64 * 1024 * 1024

# Loader inputs whose dropdown lists model files: what the file is, and its folder under ComfyUI/models.
_MODEL_INPUTS = {
    "ckpt_name": ("checkpoint", "checkpoints"),
    "lora_name": ("LoRA", "loras"),
    "vae_name": ("VAE", "vae"),
    "unet_name": ("diffusion model", "diffusion_models"),
    "clip_name": ("text encoder", "text_encoders"),
    "clip_name1": ("text encoder", "text_encoders"),
    "clip_name2": ("text encoder", "text_encoders"),
    "clip_name3": ("text encoder", "text_encoders"),
    "clip_name4": ("text encoder", "text_encoders"),
    "control_net_name": ("ControlNet", "controlnet"),
    "style_model_name": ("style model", "style_models"),
    "model_name": ("model", "upscale_models"),
}
_MODEL_INPUTS_OF_NODE = {
    ("CLIPVisionLoader", "clip_name"): ("CLIP vision model", "clip_vision"),
}


def model_input(class_type: str, input_name: str) -> tuple[str, str] | None:
    """(what the file is, its folder under ComfyUI/models) for a loader input that names a model file."""
    return _MODEL_INPUTS_OF_NODE.get((class_type, input_name)) or _MODEL_INPUTS.get(input_name)


class ComfyUIUnreachable(TransientError):
    """No answer at all (refused, reset, timed out, the socket dropped): the server may be restarting."""


class WorkflowRejected(PermanentError):
    """ComfyUI refused the graph at /prompt (HTTP 400): `.error` and `.node_errors` as sent."""

    def __init__(self, message: str, *, error: dict, node_errors: dict):
        super().__init__(message, detail={"error": error, "node_errors": node_errors})
        self.error = error
        self.node_errors = node_errors


def combo_options(input_spec) -> list[str] | None:
    """Options of a dropdown input spec in either /object_info encoding, else None.

    Legacy: [["a", "b"], {...}]; newer: ["COMBO", {"options": ["a", "b"], ...}].
    """
    if not isinstance(input_spec, list | tuple) or not input_spec:
        return None
    head = input_spec[0]
    if isinstance(head, list | tuple):
        return [str(option) for option in head]
    if head == "COMBO":
        extra = input_spec[1] if len(input_spec) > 1 and isinstance(input_spec[1], dict) else {}
        return [str(option) for option in extra.get("options") or []]
    return None


@functools.cache
def _tls_context():
    # httpx builds a TLS context (loading the CA store, ~0.1 s) for every client, even for http URLs.
    # One per process: a generation creates a client before it can submit (PERFORMANCE.md).
    return httpx.create_ssl_context()


def prepare() -> None:
    """Pay this client's one-off costs now: the TLS context, and httpx's transport, which it imports on
    the first client it builds (~50 ms of CPU)."""
    _tls_context()
    httpx.HTTPTransport(verify=_tls_context()).close()


class ComfyUIClient:
    def __init__(self, base_url: str, *, timeout: float | None = None, max_download_bytes: int | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = settings.COMFYUI_TIMEOUT if timeout is None else timeout
        self.max_download_bytes = max_download_bytes or DEFAULT_MAX_DOWNLOAD_BYTES
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout, verify=_tls_context())

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ComfyUIClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def unreachable_message(self) -> str:
        return f"ComfyUI is not reachable at {self.base_url}. Start it (python main.py --listen) or set COMFYUI_URLS."

    # -- HTTP --------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # refused, timeouts, dropped connections
            raise ComfyUIUnreachable(self.unreachable_message, detail={"reason": str(exc)}) from exc

    def _json(self, method: str, path: str):
        response = self._request(method, path)
        self._raise_for_status(response, path)
        try:
            return response.json()
        except ValueError as exc:
            raise PermanentError(f"ComfyUI at {self.base_url} answered {path} with something that is not JSON") from exc

    def _raise_for_status(self, response: httpx.Response, path: str) -> None:
        if response.status_code < 400:
            return
        text = response.text.strip()[:500]
        message = f"ComfyUI at {self.base_url} answered {path} with HTTP {response.status_code}: {text}"
        if response.status_code >= 500:
            raise TransientError(message)
        raise PermanentError(message)

    def object_info(self, node_class: str | None = None) -> dict:
        path = "/object_info" if node_class is None else f"/object_info/{quote(node_class, safe='')}"
        return self._json("GET", path)

    def system_stats(self) -> dict:
        return self._json("GET", "/system_stats")

    def queue(self) -> dict:
        return self._json("GET", "/queue")

    def history(self, prompt_id: str) -> dict | None:
        records = self._json("GET", f"/history/{quote(prompt_id, safe='')}")
        return records.get(prompt_id) if isinstance(records, dict) else None

    def dropdown_options(self, class_type: str, input_name: str) -> list[str] | None:
        """A dropdown's options from this server's /object_info, or None when it cannot say."""
        try:
            info = self.object_info(class_type).get(class_type) or {}
        except EngineError:
            return None
        inputs = info.get("input") or {}
        spec = (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)
        return combo_options(spec)

    def submit(self, graph: dict, client_id: str) -> str:
        """Queue an API-format graph; returns its prompt_id. Open events(client_id) before calling."""
        response = self._request("POST", "/prompt", json={"prompt": graph, "client_id": client_id})
        if response.status_code == 400:
            body = _json_or_none(response)
            if isinstance(body, dict) and isinstance(body.get("error"), dict | str):
                error = body["error"] if isinstance(body["error"], dict) else {"message": body["error"]}
                node_errors = body.get("node_errors") or {}
                message = describe_rejection(error, node_errors, options_of=self.dropdown_options)
                raise WorkflowRejected(message, error=error, node_errors=node_errors)
        if response.status_code == 500:
            # ComfyUI answers 500 plain text when it cannot read the request at all.
            raise PermanentError(f"ComfyUI could not process the workflow: {response.text.strip()[:500]}")
        self._raise_for_status(response, "/prompt")
        body = _json_or_none(response)
        if not isinstance(body, dict) or not body.get("prompt_id"):
            raise PermanentError(f"ComfyUI at {self.base_url} accepted the workflow but returned no prompt_id")
        return str(body["prompt_id"])

    def interrupt(self, prompt_id: str | None = None) -> None:
        """Stop the running prompt (only if it is `prompt_id`, when given) at its next step/node."""
        self._json_or_empty("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    def free(self) -> None:
        """Unload ComfyUI's models and free its memory (for an LLM sharing the GPU)."""
        self._json_or_empty("POST", "/free", json={"unload_models": True, "free_memory": True})

    def delete_queued(self, prompt_ids: list[str]) -> None:
        """Drop prompts that have not started yet; a running prompt needs interrupt()."""
        self._json_or_empty("POST", "/queue", json={"delete": list(prompt_ids)})

    def _json_or_empty(self, method: str, path: str, **kwargs) -> None:
        response = self._request(method, path, **kwargs)
        self._raise_for_status(response, path)

    def upload_image(self, data: bytes, filename: str, *, overwrite: bool = True, subfolder: str = "") -> str:
        """Put an image into ComfyUI's input folder; returns the value for a LoadImage `image` input."""
        # ComfyUI puts an upload without a "type" into its input folder; httpx names the part's type from the file name.
        fields = {"overwrite": "true" if overwrite else "false"}
        if subfolder:
            fields["subfolder"] = subfolder
        response = self._request("POST", "/upload/image", data=fields, files={"image": (filename, data)})
        self._raise_for_status(response, "/upload/image")
        body = _json_or_none(response) or {}
        name = str(body.get("name") or filename)
        folder = str(body.get("subfolder") or "")
        return f"{folder}/{name}" if folder else name

    def view(self, filename: str, subfolder: str = "", type: str = "output") -> tuple[bytes, str]:  # noqa: A002
        """Download one output file; returns (bytes, content type). Refuses files over the size cap."""
        params = {"filename": filename, "subfolder": subfolder, "type": type}
        try:
            with self._http.stream("GET", "/view", params=params) as response:
                if response.status_code == 404:
                    raise PermanentError(f"ComfyUI has no file {_join(subfolder, filename)} in its {type} folder")
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response, "/view")
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.max_download_bytes:
                    raise PermanentError(self._too_big(filename))
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_download_bytes:
                        raise PermanentError(self._too_big(filename))
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.TransportError as exc:
            raise ComfyUIUnreachable(self.unreachable_message, detail={"reason": str(exc)}) from exc
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return b"".join(chunks), content_type

    def _too_big(self, filename: str) -> str:
        limit_mb = self.max_download_bytes // (1024 * 1024)
        return f"ComfyUI output {filename} is larger than the {limit_mb} MB download limit"

    # -- websocket -----------------------------------------------------------
    def events(self, client_id: str, *, preview_metadata: bool = True) -> EventStream:
        """Open ws://HOST/ws?clientId=... Must be opened BEFORE submit() with the same client_id."""
        return EventStream(self, client_id, preview_metadata=preview_metadata)

    def websocket_url(self, client_id: str) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ws", f"clientId={quote(client_id, safe='')}", ""))


class EventStream:
    """Parsed /ws events for one client_id. Use as a context manager; next(timeout) or iterate."""

    def __init__(self, client: ComfyUIClient, client_id: str, *, preview_metadata: bool = True):
        self.client = client
        self.client_id = client_id
        self.preview_metadata = preview_metadata
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()
        self._open()

    def _open(self) -> None:
        url = self.client.websocket_url(self.client_id)
        try:
            connection = connect(
                url,
                open_timeout=self.client.timeout,
                close_timeout=min(self.client.timeout, 2.0),
                max_size=MAX_WS_FRAME_BYTES,
                # Lenient: a busy ComfyUI may answer pings late, and a dropped socket mid-run costs a retry.
                ping_interval=30,
                ping_timeout=120,
            )
            self._ws = self._stack.enter_context(connection)
            if self.preview_metadata:
                # Newer ComfyUI then tags previews with prompt_id/node (binary type 4); older ones ignore it.
                self._ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            self.close()
            raise ComfyUIUnreachable(self.client.unreachable_message, detail={"reason": str(exc)}) from exc

    def next(self, timeout: float | None) -> Event | None:
        """The next event, or None if none arrived within `timeout` seconds (None = wait forever)."""
        if self._ws is None:
            raise TransientError(f"The event stream from ComfyUI at {self.client.base_url} is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                frame = self._ws.recv(timeout=remaining)
            except TimeoutError:
                return None
            except ConnectionClosed as exc:
                raise ComfyUIUnreachable(
                    f"Lost the websocket connection to ComfyUI at {self.client.base_url}", detail={"reason": str(exc)}
                ) from exc
            except OSError as exc:
                raise ComfyUIUnreachable(self.client.unreachable_message, detail={"reason": str(exc)}) from exc
            event = parse_message(frame)
            if event is not None:
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield self.next(None)

    def close(self) -> None:
        self._ws = None
        self._stack.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# -- human messages for /prompt rejections --------------------------------------


# A message names at most this many valid options, then says how many more there are.
LISTED_OPTIONS = 30


def listed(options: list[str]) -> str:
    shown = ", ".join(options[:LISTED_OPTIONS])
    return shown if len(options) <= LISTED_OPTIONS else f"{shown} and {len(options) - LISTED_OPTIONS} more"


def describe_rejection(error: dict, node_errors: dict, *, options_of=None) -> str:
    """One sentence per problem, naming node id, class_type, input and what is wrong. ``options_of(class_type,
    input_name)`` gives a dropdown's options where ComfyUI only says how many there are."""
    problems = []
    for node_id, entry in (node_errors or {}).items():
        class_type = entry.get("class_type") or "?"
        for node_error in entry.get("errors") or []:
            problems.append(_describe_node_error(str(node_id), class_type, node_error, options_of))
    if problems:
        return "; ".join(dict.fromkeys(problems))
    return _describe_prompt_error(error or {})


def _describe_prompt_error(error: dict) -> str:
    kind = error.get("type")
    message = str(error.get("message") or "")
    details = str(error.get("details") or "")
    node = _node_from_details(details)
    if kind == "invalid_prompt":
        missing = re.search(r"node (.+?) does not exist", message)
        if missing:
            return f"ComfyUI has no node type {missing.group(1)}: install the custom node or fix the workflow"
        if "class_type" in message:
            return (
                f"node {node or '?'} has no class_type: the workflow is not in ComfyUI's API format "
                "(export it with 'Export (API)')"
            )
    if kind == "prompt_no_outputs":
        return "the workflow has no output node (SaveImage, SaveVideo, …)"
    if kind == "no_prompt":
        return 'the request to ComfyUI carried no workflow (no "prompt" key)'
    text = ": ".join(part for part in (message, details) if part)
    return f"ComfyUI rejected the workflow: {text or kind or 'unknown error'}"


def _describe_node_error(node_id: str, class_type: str, node_error: dict, options_of=None) -> str:
    kind = node_error.get("type")
    extra = node_error.get("extra_info") or {}
    details = str(node_error.get("details") or "")
    name = extra.get("input_name") or details.split(",")[0].split(":")[0].strip() or "?"
    config = extra.get("input_config")
    limits = config[1] if isinstance(config, list | tuple) and len(config) > 1 and isinstance(config[1], dict) else {}
    received = extra.get("received_value")
    where = f"node {node_id} ({class_type})"

    if kind == "value_not_in_list":
        options = combo_options(config)
        if options is None:  # ComfyUI omits lists longer than 20 options
            in_list = re.search(r"not in (\[.*\])$", details)
            options = _parse_list(in_list.group(1)) if in_list else None
        if options is None and options_of is not None:  # "(list of length 22)": ask the server for the list
            options = options_of(class_type, name)
        if model := model_input(class_type, name):
            noun, folder = model
            if options:
                installed = f"installed: {listed(options)}"
            else:
                installed = f"no {noun} files are installed: put one into ComfyUI/models/{folder}"
            return f"{noun} {received} is not installed in ComfyUI ({installed})"
        allowed = f"one of {listed(options)}" if options else "one of the options ComfyUI offers"
        return f"{where}: {name} {received!r} is not {allowed}"
    if kind == "value_smaller_than_min":
        minimum = limits.get("min", _number_after(node_error.get("message"), "min of"))
        return f"{where}: {name} {received} is below the minimum {minimum}"
    if kind == "value_bigger_than_max":
        maximum = limits.get("max", _number_after(node_error.get("message"), "max of"))
        return f"{where}: {name} {received} is above the maximum {maximum}"
    if kind == "required_input_missing":
        return f"{where}: required input {name} is missing"
    if kind == "invalid_input_type":
        expected = config[0] if isinstance(config, list | tuple) and config else "value"
        return f"{where}: {name} {received!r} is not a valid {expected}"
    if kind == "return_type_mismatch":
        linked = extra.get("linked_node") or ["?"]
        expected = config[0] if isinstance(config, list | tuple) and config else "another type"
        return (
            f"{where}: input {name} is linked to a {extra.get('received_type', '?')} output of node {linked[0]} "
            f"but needs {expected}"
        )
    if kind in ("exception_during_validation", "exception_during_inner_validation"):
        if extra.get("exception_type") == "KeyError":
            return f"{where}: links to node {details.strip(chr(39))}, which is not in the workflow"
        return f"{where}: ComfyUI could not validate it ({details})"
    if kind == "bad_linked_input":
        return f"{where}: input {name} is a malformed link (must be [node_id, output_index])"
    if kind == "custom_validation_failed":
        reason = details.split(" - ", 1)[1] if " - " in details else details
        return f"{where}: {name} is invalid ({reason})"
    text = ": ".join(part for part in (node_error.get("message"), details) if part)
    return f"{where}: {text or kind}"


def _node_from_details(details: str) -> str | None:
    match = re.search(r"Node ID '#?([^']+)'", details)
    return match.group(1) if match else None


def _number_after(message, marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*(-?[\d.]+)", str(message or ""))
    return match.group(1) if match else "?"


def _parse_list(text: str) -> list[str] | None:
    items = re.findall(r"'((?:[^'\\]|\\.)*)'", text)
    return items or ([] if text.strip() == "[]" else None)


def _join(subfolder: str, filename: str) -> str:
    return f"{subfolder}/{filename}" if subfolder else filename


def _json_or_none(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None
