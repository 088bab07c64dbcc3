"""What the built-in workflows need from ComfyUI comes from the graphs themselves."""

import json
from pathlib import Path

import pytest

from generations.services import needs
from generations.services.catalog import Catalog

OBJECT_INFO = Path(__file__).resolve().parents[2] / "tests" / "recordings" / "comfyui" / "object_info_0.3.64.json"


def test_the_video_graph_needs_what_it_saves_with_not_a_guess():
    video = needs.node_classes("video")
    assert {"CreateVideo", "SaveVideo", "SVD_img2vid_Conditioning", "ImageOnlyCheckpointLoader"} <= set(video)
    assert "SaveAnimatedWEBP" not in video


def test_rework_needs_the_nodes_that_read_and_encode_the_picture():
    assert {"LoadImage", "VAEEncode"} <= set(needs.node_classes("img2img"))
    assert not {"LoadImage", "VAEEncode"} & set(needs.node_classes("txt2img"))


@pytest.mark.parametrize("templates", [needs.IMAGE_TEMPLATES, needs.VIDEO_TEMPLATES])
def test_a_real_comfyui_has_every_node_the_templates_need(templates):
    installed = set(json.loads(OBJECT_INFO.read_text()))
    catalog = Catalog(available=True, node_types=installed)
    assert needs.missing_nodes(catalog, *templates) == []
    assert needs.missing_nodes(Catalog(available=True, node_types=set()), *templates) == needs.node_classes(*templates)


def test_video_models_are_the_checkpoints_named_for_video():
    catalog = Catalog(
        available=True, checkpoints=["sd_xl_base_1.0.safetensors", "svd_xt.safetensors", "my-img2vid.ckpt"]
    )
    assert needs.video_checkpoints(catalog) == ["svd_xt.safetensors", "my-img2vid.ckpt"]
