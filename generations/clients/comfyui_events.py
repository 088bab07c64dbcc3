"""Typed events parsed from ComfyUI's /ws stream.

Text frames are JSON {"type", "data"}; binary frames are previews (see parse_binary).
Message types a client does not need (progress_state, feature_flags, custom nodes' own
messages...) parse to None so a newer or extended server never breaks a run.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import PurePosixPath

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".apng", ".bmp"}
VIDEO_EXTENSIONS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
AUDIO_EXTENSIONS = {".flac", ".mp3", ".wav", ".ogg", ".opus", ".m4a"}

# Binary frame event types (ComfyUI server.BinaryEventTypes).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


@dataclass(frozen=True)
class Status:
    queue_remaining: int
    sid: str | None = None


@dataclass(frozen=True)
class ExecutionStart:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionCached:
    """Nodes served from ComfyUI's cache: they get no Executing event of their own."""

    prompt_id: str
    nodes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Executing:
    """node is None once the whole prompt is finished (success, error or interrupt)."""

    prompt_id: str
    node: str | None


@dataclass(frozen=True)
class Progress:
    prompt_id: str
    node: str | None
    value: int
    max: int


@dataclass(frozen=True)
class OutputFile:
    node: str
    filename: str
    subfolder: str
    type: str
    kind: str  # "image" | "video" (also "audio" / "other" for files the studio does not show)

    @property
    def view_params(self) -> dict[str, str]:
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}


@dataclass(frozen=True)
class Executed:
    prompt_id: str
    node: str
    output: dict

    @property
    def files(self) -> list[OutputFile]:
        return output_files(self.node, self.output)


@dataclass(frozen=True)
class ExecutionSuccess:
    prompt_id: str


@dataclass(frozen=True)
class ExecutionError:
    prompt_id: str
    node_id: str | None
    node_type: str | None
    message: str
    exception_type: str

    def describe(self) -> str:
        where = f"node {self.node_id} ({self.node_type})" if self.node_id else "the workflow"
        return f"ComfyUI failed while running {where}: {self.message.strip() or self.exception_type}"


@dataclass(frozen=True)
class ExecutionInterrupted:
    prompt_id: str
    node_id: str | None
    node_type: str | None


@dataclass(frozen=True)
class Preview:
    image: bytes
    mime: str
    prompt_id: str | None = None
    node: str | None = None


Event = (
    Status
    | ExecutionStart
    | ExecutionCached
    | Executing
    | Progress
    | Executed
    | ExecutionSuccess
    | ExecutionError
    | ExecutionInterrupted
    | Preview
)


def file_kind(filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return "other"


# Output lists whose files are always moving pictures (VideoHelperSuite lists its GIFs and videos as "gifs").
MOVING_OUTPUT_KEYS = {"gifs", "videos", "video"}


def _animated(output: dict, key: str, index: int) -> bool:
    """ComfyUI marks the moving pictures of an "images" list with `"animated": [true, ...]` (one flag per file,
    or one for all): an animated WEBP or PNG, or a video (SaveVideo, SaveWEBM)."""
    if key in MOVING_OUTPUT_KEYS:
        return True
    flags = output.get("animated")
    if key != "images" or not isinstance(flags, list) or not flags:
        return False
    return flags[min(index, len(flags) - 1)] is True


def output_files(node: str, output: dict) -> list[OutputFile]:
    """Every file an `executed` output lists, whatever the key (images, gifs, videos, audio...); a moving
    picture is a video, whatever its format."""
    files = []
    for key, value in (output or {}).items():
        if not isinstance(value, list):
            continue
        for index, item in enumerate(value):
            if isinstance(item, dict) and isinstance(item.get("filename"), str) and item["filename"]:
                kind = file_kind(item["filename"])
                if kind == "image" and _animated(output, key, index):
                    kind = "video"
                files.append(
                    OutputFile(
                        node=str(node),
                        filename=item["filename"],
                        subfolder=str(item.get("subfolder") or ""),
                        type=str(item.get("type") or "output"),
                        kind=kind,
                    )
                )
    return files


def parse_message(message: str | bytes) -> Event | None:
    """One websocket frame -> an event, or None for frames a client can ignore."""
    if isinstance(message, bytes | bytearray | memoryview):
        return parse_binary(bytes(message))
    try:
        payload = json.loads(message)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    return parse_json(payload)


def parse_json(payload: dict) -> Event | None:
    kind = payload.get("type")
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    prompt_id = data.get("prompt_id")
    if kind == "status":
        exec_info = (data.get("status") or {}).get("exec_info") or {}
        return Status(queue_remaining=int(exec_info.get("queue_remaining") or 0), sid=data.get("sid"))
    if kind == "execution_start":
        return ExecutionStart(prompt_id=prompt_id)
    if kind == "execution_cached":
        return ExecutionCached(prompt_id=prompt_id, nodes=[str(n) for n in data.get("nodes") or []])
    if kind == "executing":
        node = data.get("node")
        return Executing(prompt_id=prompt_id, node=None if node is None else str(node))
    if kind == "progress":
        node = data.get("node")
        return Progress(
            prompt_id=prompt_id,
            node=None if node is None else str(node),
            value=int(data.get("value") or 0),
            max=int(data.get("max") or 0),
        )
    if kind == "executed":
        return Executed(prompt_id=prompt_id, node=str(data.get("node")), output=data.get("output") or {})
    if kind == "execution_success":
        return ExecutionSuccess(prompt_id=prompt_id)
    if kind == "execution_error":
        return ExecutionError(
            prompt_id=prompt_id,
            node_id=_optional_str(data.get("node_id")),
            node_type=_optional_str(data.get("node_type")),
            message=str(data.get("exception_message") or ""),
            exception_type=str(data.get("exception_type") or ""),
        )
    if kind == "execution_interrupted":
        return ExecutionInterrupted(
            prompt_id=prompt_id,
            node_id=_optional_str(data.get("node_id")),
            node_type=_optional_str(data.get("node_type")),
        )
    return None


def parse_binary(frame: bytes) -> Preview | None:
    """Preview frames: >I event type, then either >I image format + bytes (type 1) or
    >I metadata length + metadata JSON + bytes (type 4, sent once the client announced
    supports_preview_metadata)."""
    if len(frame) < 8:
        return None
    (event_type,) = struct.unpack(">I", frame[:4])
    if event_type == PREVIEW_IMAGE:
        (image_format,) = struct.unpack(">I", frame[4:8])
        return Preview(image=frame[8:], mime=_IMAGE_FORMATS.get(image_format, "image/jpeg"))
    if event_type == PREVIEW_IMAGE_WITH_METADATA:
        (length,) = struct.unpack(">I", frame[4:8])
        try:
            metadata = json.loads(frame[8 : 8 + length])
        except ValueError:
            return None
        if not isinstance(metadata, dict):
            return None
        return Preview(
            image=frame[8 + length :],
            mime=str(metadata.get("image_type") or "image/jpeg"),
            prompt_id=_optional_str(metadata.get("prompt_id")),
            node=_optional_str(metadata.get("node_id")),
        )
    return None


def _optional_str(value) -> str | None:
    return None if value is None else str(value)
