"""What a custom workflow may read from a ComfyUI that several users share."""

import json
from pathlib import Path

import pytest

from generations.services import uploads

OBJECT_INFO = Path(__file__).resolve().parents[2] / "tests" / "recordings" / "comfyui" / "object_info_0.3.64.json"


def one_node(class_type: str, **inputs) -> dict:
    return {"1": {"class_type": class_type, "inputs": inputs}, "2": {"class_type": "SaveImage", "inputs": {}}}


def test_every_built_in_node_that_reads_an_uploaded_file_is_policed():
    nodes = json.loads(OBJECT_INFO.read_text())
    readers = {
        name: input_name
        for name, node in nodes.items()
        for section in ("required", "optional")
        for input_name, spec in (node.get("input", {}).get(section) or {}).items()
        if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict)
        if any(key.endswith("_upload") for key in spec[1])
    }
    assert len(readers) >= 7  # the recording has them: an empty scan must not pass
    assert {name: uploads.FILE_READERS.get(name) for name in readers} == readers
    for name in uploads.FILE_READERS.keys() | uploads.FOLDER_READERS:
        assert name in nodes, f"{name} is not a ComfyUI 0.3.64 node"


@pytest.mark.parametrize("class_type", sorted(uploads.FILE_READERS))
def test_a_reader_of_the_owners_own_upload_is_allowed(class_type, alice):
    name = f"{uploads.user_folder(alice.pk)}/{uploads.file_name(7)}"
    uploads.check_file_readers(one_node(class_type, **{uploads.FILE_READERS[class_type]: name}), alice.pk)


@pytest.mark.parametrize(
    "value",
    [
        "example.png",
        "studio_1.png",
        "other/picture.png",
        "{mine}/../{theirs}/picture.png",
        "{theirs}/picture.png",
        "{mine}/picture.png [output]",
        "{mine}\\..\\x.png",
        ["3", 0],
        7,
    ],
)
def test_a_reader_of_anything_else_is_refused_with_what_to_do(value, alice, bob):
    def fill(text):
        folders = {"mine": uploads.user_folder(alice.pk), "theirs": uploads.user_folder(bob.pk)}
        return text.format(**folders) if isinstance(text, str) else text

    graph = one_node("LoadImage", image=fill(value))
    with pytest.raises(uploads.ForeignFile, match="Node 1 \\(LoadImage\\) loads .* only load files the studio"):
        uploads.check_file_readers(graph, alice.pk)


def test_a_node_that_reads_a_whole_input_folder_is_refused(alice):
    with pytest.raises(uploads.ForeignFile, match="LoadImageSetFromFolderNode.*remove it"):
        uploads.check_file_readers(one_node("LoadImageSetFromFolderNode", folder="3d"), alice.pk)


def test_the_same_user_always_gets_the_same_folder_and_file_names_differ_per_output(alice):
    assert uploads.user_folder(alice.pk) == uploads.user_folder(alice.pk)
    assert uploads.file_name(1) != uploads.file_name(2)
