"""The workflow builders produce graphs a ComfyUI accepts and runs (the fake validates like ComfyUI)."""

import time
import uuid

import pytest

from generations.clients.comfyui import ComfyUIClient
from generations.clients.comfyui_events import Executing, ExecutionError, output_files
from generations.workflows import TEMPLATES, img2img, img2video, safe_prefix, txt2img

BRIEF = {
    "positive_prompt": 'a "quoted" fox, {curly} braces, ["brackets", 0]',
    "negative_prompt": "blurry\nwatermark",
    "checkpoint": "sd_xl_base_1.0.safetensors",
    "width": 512,
    "height": 384,
    "steps": 4,
    "cfg": 6.5,
    "sampler": "euler",
    "scheduler": "karras",
    "seed": 2**63 - 1,
    "media_kind": "image",
}


def run_graph(url: str, graph: dict, timeout: float = 15) -> list:
    """Submit like the runner does and return the output files listed in /history."""
    client_id = uuid.uuid4().hex
    with ComfyUIClient(url) as client, client.events(client_id) as events:
        prompt_id = client.submit(graph, client_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = events.next(timeout=0.5)
            if isinstance(event, ExecutionError):
                raise AssertionError(event.describe())
            if isinstance(event, Executing) and event.node is None and event.prompt_id == prompt_id:
                record = client.history(prompt_id) or {}
                return [f for node, out in record.get("outputs", {}).items() for f in output_files(node, out)]
        raise AssertionError("the graph did not finish")


def test_the_registry_names_every_template():
    assert set(TEMPLATES) == {"txt2img", "img2img", "video"}


def test_txt2img_runs_and_carries_the_brief_as_values(fake_comfyui):
    graph = txt2img(BRIEF, prefix="studio_s1_g1")
    sampler = next(node for node in graph.values() if node["class_type"] == "KSampler")["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"]) == (2**63 - 1, 4, 6.5)
    texts = [node["inputs"]["text"] for node in graph.values() if node["class_type"] == "CLIPTextEncode"]
    assert texts == [BRIEF["positive_prompt"], BRIEF["negative_prompt"]]
    files = run_graph(fake_comfyui.url, graph)
    assert [f.kind for f in files] == ["image"]
    assert files[0].filename.startswith("studio_s1_g1")


def test_img2img_starts_from_an_uploaded_image(fake_comfyui):
    with ComfyUIClient(fake_comfyui.url) as client:
        name = client.upload_image(fake_comfyui_png(), "studio_7.png")
    graph = img2img(BRIEF, name, denoise=0.4)
    sampler = next(node for node in graph.values() if node["class_type"] == "KSampler")["inputs"]
    assert sampler["denoise"] == 0.4
    assert [f.kind for f in run_graph(fake_comfyui.url, graph)] == ["image"]


def test_img2img_rejects_an_image_the_server_does_not_have(fake_comfyui):
    from generations.clients.comfyui import WorkflowRejected

    with pytest.raises(WorkflowRejected), ComfyUIClient(fake_comfyui.url) as client:
        client.submit(img2img(BRIEF, "never_uploaded.png"), "c1")


def test_the_video_template_animates_a_key_frame_into_an_mp4(fake_comfyui):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    brief = {**BRIEF, "media_kind": "video", "frames": 8, "fps": 6}
    graph = img2video(brief, video_checkpoint="svd_xt.safetensors")
    loaders = {
        node["class_type"]: node["inputs"]["ckpt_name"] for node in graph.values() if "ckpt_name" in node["inputs"]
    }
    assert loaders == {"CheckpointLoaderSimple": BRIEF["checkpoint"], "ImageOnlyCheckpointLoader": "svd_xt.safetensors"}
    files = run_graph(fake_comfyui.url, graph)
    assert [f.kind for f in files] == ["video"]
    assert files[0].filename.endswith(".mp4")


def test_each_build_is_a_fresh_graph():
    first = txt2img(BRIEF)
    first["2"]["inputs"]["text"] = "changed"
    assert txt2img(BRIEF)["2"]["inputs"]["text"] == BRIEF["positive_prompt"]


@pytest.mark.parametrize(
    "name, expected",
    [("../../etc/passwd", "etc_passwd"), ("/abs/path", "abs_path"), ("..", "studio"), ("ok-name_1", "ok-name_1")],
)
def test_filename_prefixes_cannot_leave_the_output_folder(name, expected):
    assert safe_prefix(name) == expected
    graph = txt2img(BRIEF, prefix=name)
    assert graph["7"]["inputs"]["filename_prefix"] == expected


def fake_comfyui_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()
