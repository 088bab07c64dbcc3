"""The catalog of what a ComfyUI server can run, from /object_info (fake ComfyUI on a real socket)."""

import json
import socket
from pathlib import Path

from generations.services.catalog import DEFAULT_SAMPLERS, DEFAULT_SCHEDULERS, get_catalog, parse_object_info

# Recordings of a real ComfyUI 0.3.64, kept in the repository (tests/recordings/README.md says what they are).
PROTOCOLS = Path(__file__).resolve().parents[2] / "tests" / "recordings" / "comfyui"


def _object_info(ckpt_spec, sampler_spec, scheduler_spec) -> dict:
    return {
        "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": ckpt_spec}}},
        "KSampler": {
            "input": {
                "required": {
                    "sampler_name": sampler_spec,
                    "scheduler": scheduler_spec,
                    "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
                }
            }
        },
    }


def test_it_parses_legacy_dropdowns():
    info = _object_info(
        [["a.safetensors", "b.safetensors"], {"tooltip": "x"}], [["euler", "ddim"], {}], [["normal", "karras"]]
    )

    catalog = parse_object_info(info, server="http://comfy:8188")

    assert catalog.available and catalog.error == ""
    assert catalog.checkpoints == ["a.safetensors", "b.safetensors"]
    assert (catalog.samplers, catalog.schedulers) == (["euler", "ddim"], ["normal", "karras"])
    assert catalog.node_types == {"CheckpointLoaderSimple", "KSampler"}
    assert catalog.server == "http://comfy:8188"


def test_it_parses_combo_dropdowns():
    info = _object_info(
        ["COMBO", {"options": ["c.safetensors"], "tooltip": "x"}],
        ["COMBO", {"options": ["euler_ancestral"]}],
        ["COMBO", {"options": ["simple", "beta"]}],
    )

    catalog = parse_object_info(info)

    assert catalog.checkpoints == ["c.safetensors"]
    assert (catalog.samplers, catalog.schedulers) == (["euler_ancestral"], ["simple", "beta"])


def test_a_recorded_object_info_without_samplers_or_checkpoints_falls_back_to_defaults():
    info = json.loads((PROTOCOLS / "get_object_info_EmptyImage.json").read_text())

    catalog = parse_object_info(info)

    assert catalog.available
    assert catalog.node_types == {"EmptyImage"}
    assert catalog.checkpoints == []
    assert (catalog.samplers, catalog.schedulers) == (DEFAULT_SAMPLERS, DEFAULT_SCHEDULERS)


def test_it_reads_the_catalog_of_the_configured_server(fake_comfyui):
    fake_comfyui.set_checkpoints(["dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors"])

    catalog = get_catalog()

    assert catalog.available
    assert catalog.server == fake_comfyui.url
    assert catalog.checkpoints == ["dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors"]
    assert "euler" in catalog.samplers and "karras" in catalog.schedulers  # legacy and COMBO encodings
    assert {"SaveVideo", "SVD_img2vid_Conditioning", "KSampler"} <= catalog.node_types
    assert catalog.has_nodes("SaveImage", "CreateVideo") and not catalog.has_nodes("DefinitelyNotANode")


def test_it_serves_the_cached_catalog_until_asked_to_refresh(fake_comfyui):
    fake_comfyui.set_checkpoints(["old.safetensors"])
    assert get_catalog().checkpoints == ["old.safetensors"]
    fake_comfyui.set_checkpoints(["new.safetensors"])

    assert get_catalog().checkpoints == ["old.safetensors"]
    assert get_catalog(refresh=True).checkpoints == ["new.safetensors"]
    assert get_catalog().checkpoints == ["new.safetensors"]


def test_it_reports_an_unreachable_server_as_unavailable_without_raising(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.COMFYUI_URLS = [dead]

    catalog = get_catalog(refresh=True)

    assert not catalog.available
    assert catalog.checkpoints == []
    assert catalog.samplers == DEFAULT_SAMPLERS and catalog.schedulers == DEFAULT_SCHEDULERS
    assert f"ComfyUI is not reachable at {dead}" in catalog.error
    assert "COMFYUI_URLS" in catalog.error


def test_an_explicit_server_url_is_queried_instead_of_the_default(fake_comfyui, settings):
    settings.COMFYUI_URLS = ["http://127.0.0.1:9"]

    catalog = get_catalog(fake_comfyui.url + "/", refresh=True)

    assert catalog.available and catalog.server == fake_comfyui.url
    assert catalog.checkpoints == fake_comfyui.checkpoints
