"""Generated files in Django's media storage, one MediaOutput per ComfyUI output file."""

import io
import os

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image, UnidentifiedImageError

from generations.clients.comfyui_events import OutputFile
from generations.models import Generation, MediaKind, MediaOutput


def source_key(file: OutputFile) -> str:
    return "/".join([file.node, file.type, file.subfolder, file.filename])[:600]


def already_saved(generation: Generation, file: OutputFile) -> bool:
    return MediaOutput.objects.filter(generation=generation, source_key=source_key(file)).exists()


def _dimensions(data: bytes) -> tuple[int | None, int | None]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None


# The only types the studio stores and serves, recognised from the bytes themselves: whatever type
# a server claims, HTML or SVG from it must never be served from the studio's origin.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
)


class NotMedia(ValueError):
    """The bytes are not an image or video type the studio serves."""


def sniff_type(data: bytes) -> str:
    for offset, signature, content_type in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return content_type
    raise NotMedia("not a PNG, JPEG, GIF, WEBP, MP4 or WebM file")


def save_output(generation: Generation, file: OutputFile, data: bytes, content_type: str) -> MediaOutput | None:
    """Store one output; saving the same ComfyUI file twice is a no-op.

    The stored type is the one the bytes are, whatever ``content_type`` the server claimed; bytes of
    any other type raise NotMedia and are not stored.
    """
    if already_saved(generation, file):
        return None
    kind = MediaKind.VIDEO if file.kind == "video" else MediaKind.IMAGE
    content_type = sniff_type(data)
    # An animated WEBP or PNG is a video to the studio but still a picture to the browser: it has a size.
    width, height = _dimensions(data) if content_type.startswith("image/") else (None, None)
    output = MediaOutput(
        generation=generation,
        kind=kind,
        content_type=content_type,
        node_id=file.node,
        original_filename=file.filename,
        source_key=source_key(file),
        width=width,
        height=height,
        size_bytes=len(data),
    )
    try:
        with transaction.atomic():
            output.file.save(os.path.basename(file.filename), ContentFile(data), save=True)
    except IntegrityError:
        output.file.delete(save=False)  # another delivery of the same task stored it first
        return None
    return output


def delete_file(sender, instance: MediaOutput, **kwargs) -> None:
    """A deleted output (alone, or with its generation or session) takes its file with it."""
    instance.file.delete(save=False)


def read_bytes(output: MediaOutput) -> bytes:
    with output.file.open("rb") as handle:
        return handle.read()
