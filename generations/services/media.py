"""Generated files in Django's media storage, one MediaOutput per ComfyUI output file."""

import io
import mimetypes
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


def save_output(generation: Generation, file: OutputFile, data: bytes, content_type: str) -> MediaOutput | None:
    """Store one output; saving the same ComfyUI file twice is a no-op."""
    if already_saved(generation, file):
        return None
    kind = MediaKind.VIDEO if file.kind == "video" else MediaKind.IMAGE
    content_type = content_type or mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
    width, height = _dimensions(data) if kind == MediaKind.IMAGE else (None, None)
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
