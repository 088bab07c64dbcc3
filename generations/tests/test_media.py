"""generations/services/media.py: what is stored of a ComfyUI output, under which type, and when it is not."""

import io
from pathlib import Path

import pytest
from django.db import IntegrityError
from PIL import Image

from generations.clients.comfyui_events import OutputFile
from generations.models import MediaKind, MediaOutput
from generations.services import media

PNG = b"\x89PNG\r\n\x1a\n"


def _png(width: int = 12, height: int = 7) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


def _file(filename: str = "studio_00001_.png", kind: str = "image", **fields) -> OutputFile:
    return OutputFile(**{"node": "9", "filename": filename, "subfolder": "", "type": "output", "kind": kind, **fields})


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (PNG + b"rest", "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF87a rest", "image/gif"),
        (b"GIF89a rest", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x1a\x45\xdf\xa3rest", "video/webm"),
    ],
)
def test_it_knows_each_served_type_by_its_bytes(data, content_type):
    assert media.sniff_type(data) == content_type


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"<!doctype html><script>alert(1)</script>",
        b"XXXX\x10\x00\x00\x00WEBPVP8 ",  # WEBP's mark without RIFF's
        PNG[:-1],
        b"",
    ],
)
def test_anything_else_is_not_media(data):
    with pytest.raises(media.NotMedia) as refused:
        media.sniff_type(data)

    assert str(refused.value) == "not a PNG, JPEG, GIF, WEBP, MP4 or WebM file"


def test_an_output_is_stored_with_the_type_of_its_bytes_its_size_and_its_name(make_generation):
    generation = make_generation()
    data = _png(12, 7)

    output = media.save_output(generation, _file(), data, "application/octet-stream")

    stored = MediaOutput.objects.get(pk=output.pk)
    assert (stored.kind, stored.content_type, stored.width, stored.height) == (MediaKind.IMAGE, "image/png", 12, 7)
    assert (stored.node_id, stored.original_filename, stored.size_bytes) == ("9", "studio_00001_.png", len(data))
    assert stored.source_key == "9/output//studio_00001_.png"
    assert Path(stored.file.path).name == "studio_00001_.png"
    assert media.read_bytes(stored) == data


def test_a_video_is_stored_as_a_video_without_a_size(make_generation):
    data = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64

    output = media.save_output(make_generation(), _file("clip.mp4", "video"), data, "video/mp4")

    assert (output.kind, output.content_type, output.width, output.height) == (MediaKind.VIDEO, "video/mp4", None, None)


def test_an_animated_picture_is_a_video_that_still_has_a_size(make_generation):
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (9, 5), colour) for colour in ("red", "blue")]
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:])

    output = media.save_output(make_generation(), _file("loop.webp", "video"), buffer.getvalue(), "image/webp")

    assert (output.kind, output.content_type, output.width, output.height) == (MediaKind.VIDEO, "image/webp", 9, 5)


def test_a_picture_pillow_cannot_read_is_stored_without_a_size(make_generation):
    output = media.save_output(make_generation(), _file(), PNG + b"truncated", "image/png")

    assert (output.content_type, output.width, output.height) == ("image/png", None, None)


def test_bytes_that_are_not_media_are_refused_and_nothing_is_stored(make_generation, settings):
    generation = make_generation()

    with pytest.raises(media.NotMedia):
        media.save_output(generation, _file("page.png"), b"<html>", "image/png")

    assert not MediaOutput.objects.filter(generation=generation).exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("page*"))


def test_the_same_comfyui_file_is_stored_once(make_generation):
    generation = make_generation()
    first = media.save_output(generation, _file(), _png(), "image/png")

    again = media.save_output(generation, _file(), _png(), "image/png")

    assert first is not None and again is None
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert media.already_saved(generation, _file())
    assert not media.already_saved(generation, _file(node="10"))
    assert not media.already_saved(make_generation(), _file())


def test_files_of_other_nodes_folders_or_subfolders_are_different_outputs(make_generation):
    generation = make_generation()
    for file in (_file(), _file(node="10"), _file(type="temp"), _file(subfolder="a")):
        assert media.save_output(generation, file, _png(), "image/png") is not None

    assert sorted(MediaOutput.objects.filter(generation=generation).values_list("source_key", flat=True)) == [
        "10/output//studio_00001_.png",
        "9/output//studio_00001_.png",
        "9/output/a/studio_00001_.png",
        "9/temp//studio_00001_.png",
    ]


def test_a_very_long_source_key_is_cut_to_what_the_column_holds():
    key = media.source_key(_file("x" * 700))

    assert len(key) == 600 and key.startswith("9/output//xxx")


def test_a_delivery_that_lost_the_race_keeps_no_file_of_its_own(make_generation, monkeypatch, settings):
    generation = make_generation()
    monkeypatch.setattr(media, "already_saved", lambda generation, file: False)
    media.save_output(generation, _file(), _png(), "image/png")

    assert media.save_output(generation, _file(), _png(), "image/png") is None

    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert len([path for path in Path(settings.MEDIA_ROOT).rglob("*.png")]) == 1


def test_deleting_an_output_deletes_its_file(make_generation):
    output = media.save_output(make_generation(), _file(), _png(), "image/png")
    path = Path(output.file.path)
    assert path.exists()

    pk = output.pk
    output.delete()

    assert not path.exists()
    assert not MediaOutput.objects.filter(pk=pk).exists()


def test_the_unique_source_is_the_databases_own_rule(make_generation):
    generation = make_generation()
    media.save_output(generation, _file(), _png(), "image/png")

    with pytest.raises(IntegrityError):
        MediaOutput.objects.create(generation=generation, kind="image", source_key="9/output//studio_00001_.png")
