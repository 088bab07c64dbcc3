"""Every family's graph against the /object_info of a real ComfyUI 0.3.64: the node classes exist, the input
names and types match, values are in range (and on the spec's step), links point at outputs of the right type.

The check is ComfyUI's own /prompt validation as the fake reproduces it (tests/fakes/comfyui_nodes.py), run
on the recorded definitions of every built-in node, with each family's files installed in its loaders.
"""

import copy
import json
from pathlib import Path

import pytest

from generations.workflows.families import ASPECTS, FAMILIES, recognise
from tests.fakes.comfyui_nodes import validate_prompt

OBJECT_INFO = json.loads(
    (Path(__file__).resolve().parents[2] / "tests/recordings/comfyui/object_info_0.3.64.json").read_text()
)
UPLOADED = "pending-upload.png"


def server_with(family) -> dict:
    """The recorded server, with this family's example files in its loaders' dropdowns."""
    definitions = copy.deepcopy(OBJECT_INFO)
    for need in family.files:
        spec = definitions[need.node]["input"]["required"][need.input]
        if spec[0] == "COMBO":
            spec[1]["options"] = [need.example]
        else:
            spec[0] = [need.example]
    definitions["LoadImage"]["input"]["required"]["image"][0] = [UPLOADED]
    return definitions


def brief_for(family, aspect: str) -> dict:
    width, height = family.sizes[aspect]
    model = family.model.example
    return {
        "positive_prompt": "a lighthouse on a cliff at dusk",
        "negative_prompt": "blurry",
        "width": width,
        "height": height,
        "seed": 2**40,
        **family.defaults_for(model),
    }


def off_step(graph: dict, definitions: dict) -> list[str]:
    wrong = []
    for node_id, node in graph.items():
        specs = definitions[node["class_type"]]["input"]
        for name, value in node["inputs"].items():
            spec = (specs.get("required") or {}).get(name) or (specs.get("optional") or {}).get(name)
            if spec and spec[0] == "INT" and "step" in spec[1] and (value - spec[1].get("min", 0)) % spec[1]["step"]:
                wrong.append(f"{node_id}.{name}={value} (step {spec[1]['step']} from {spec[1].get('min', 0)})")
    return wrong


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("key", FAMILIES)
def test_every_family_graph_is_one_comfyui_accepts(key, aspect):
    family = FAMILIES[key]
    files = {need.role: need.example for need in family.files}
    graph = family.graph(brief_for(family, aspect), files, prefix="studio_s1_g1")
    definitions = server_with(family)

    ok, error, outputs, node_errors = validate_prompt(copy.deepcopy(graph), definitions, {UPLOADED})

    assert ok, json.dumps({"error": error, "node_errors": node_errors}, indent=1)[:3000]
    assert outputs, "the graph has no output node"
    assert off_step(graph, definitions) == []
    saved = {graph[node]["class_type"] for node in outputs}
    assert saved == ({"SaveImage"} if family.kind == "image" else {"SaveVideo"})


def test_a_family_graph_with_a_node_the_server_lacks_is_caught():
    family = FAMILIES["flux_split"]
    files = {need.role: need.example for need in family.files}
    graph = family.graph(brief_for(family, "square"), files)
    definitions = server_with(family)
    del definitions["FluxGuidance"]
    ok, error, _, _ = validate_prompt(graph, definitions, {UPLOADED})
    assert not ok and error["message"] == "Cannot execute because node FluxGuidance does not exist."


def test_a_family_graph_with_a_wrongly_typed_link_is_caught():
    family = FAMILIES["sdxl"]
    graph = family.graph(brief_for(family, "square"), {"model": family.model.example})
    graph["6"]["inputs"]["vae"] = ["1", 1]  # the CLIP output where the VAE goes
    ok, _, _, node_errors = validate_prompt(graph, server_with(family), {UPLOADED})
    assert not ok
    [error] = node_errors["6"]["errors"]
    assert error["type"] == "return_type_mismatch" and error["extra_info"]["received_type"] == "CLIP"


def test_every_size_a_family_offers_is_within_its_own_range():
    for family in FAMILIES.values():
        for width, height in family.sizes.values():
            assert family.fits(width, height), family.key
            assert width % family.size_step == 0 and height % family.size_step == 0, family.key


@pytest.mark.parametrize(
    ("file_name", "folder", "key"),
    [
        ("v1-5-pruned-emaonly.safetensors", "checkpoints", "sd15"),
        ("dreamshaper_8.safetensors", "checkpoints", "sd15"),
        ("someone_s_merge.safetensors", "checkpoints", "sd15"),
        ("sd_xl_base_1.0.safetensors", "checkpoints", "sdxl"),
        ("ponyDiffusionV6XL.safetensors", "checkpoints", "sdxl"),
        ("illustriousXL_v01.safetensors", "checkpoints", "sdxl"),
        ("sd3.5_large_fp8_scaled.safetensors", "checkpoints", "sd35"),
        ("flux1-dev-fp8.safetensors", "checkpoints", "flux"),
        ("flux1-schnell.safetensors", "diffusion_models", "flux_split"),
        ("wan2.1_t2v_1.3B_fp16.safetensors", "diffusion_models", "wan_t2v"),
        ("wan2.2_ti2v_5B_fp16.safetensors", "diffusion_models", "wan_t2v"),
        ("wan2.1_i2v_720p_14B_fp8_scaled.safetensors", "diffusion_models", "wan_i2v"),
        ("ltx-video-2b-v0.9.5.safetensors", "checkpoints", "ltxv"),
        ("svd_xt_1_1.safetensors", "checkpoints", "svd"),
    ],
)
def test_a_model_s_family_is_recognised_from_its_name_and_folder(file_name, folder, key):
    assert recognise(file_name, folder).key == key


def test_a_diffusion_model_of_no_known_family_is_not_guessed():
    assert recognise("hidream_i1_full_fp16.safetensors", "diffusion_models") is None


@pytest.mark.parametrize(("key", "asked", "accepted"), [("wan_t2v", 30, 29), ("wan_t2v", 1, 1), ("ltxv", 100, 97)])
def test_a_video_s_length_is_one_its_latent_accepts(key, asked, accepted):
    assert FAMILIES[key].video_frames(asked) == accepted


def test_a_variant_s_defaults_follow_its_name():
    assert FAMILIES["flux"].defaults_for("flux1-schnell-fp8.safetensors")["steps"] == 4
    assert FAMILIES["flux"].defaults_for("flux1-dev-fp8.safetensors")["steps"] == 20
    assert FAMILIES["svd"].defaults_for("svd_xt.safetensors")["frames"] == 25


def test_flux_s_vae_is_ae_not_any_vae():
    vae = FAMILIES["flux_split"].files[3]
    assert vae.matches("ae.safetensors") and vae.matches("flux_vae.safetensors")
    assert not vae.matches("wan_2.1_vae.safetensors") and not vae.matches("sdxl_vae.safetensors")


LORAS = [{"name": "ink_style.safetensors", "strength": 0.8}, {"name": "detail_tweaker.safetensors", "strength": -0.4}]


@pytest.mark.parametrize("key", [key for key, family in FAMILIES.items() if family.lora])
def test_every_family_that_takes_loras_chains_them_in_a_graph_comfyui_accepts(key):
    family = FAMILIES[key]
    files = {need.role: need.example for need in family.files}
    graph = family.graph({**brief_for(family, "square"), "loras": LORAS}, files)
    definitions = server_with(family)
    for loader in ("LoraLoader", "LoraLoaderModelOnly"):
        definitions[loader]["input"]["required"]["lora_name"][0] = [lora["name"] for lora in LORAS]

    ok, error, _, node_errors = validate_prompt(copy.deepcopy(graph), definitions, {UPLOADED})

    assert ok, json.dumps({"error": error, "node_errors": node_errors}, indent=1)[:3000]
    chain = [node for node in graph.values() if node["class_type"].startswith("LoraLoader")]
    assert [(node["inputs"]["lora_name"], node["inputs"]["strength_model"]) for node in chain] == [
        (lora["name"], lora["strength"]) for lora in LORAS
    ]
    last = next(key for key, node in graph.items() if node is chain[-1])
    loader = next(key for key, node in graph.items() if node["class_type"] == family.model.node)
    # Nothing draws with the bare model any more: every user of it now takes the last LoRA's model.
    users = [node for node in graph.values() if node["inputs"].get("model") == [loader, 0]]
    assert users == [chain[0]]
    assert any(node["inputs"].get("model") == [last, 0] for node in graph.values())
    if family.lora == "model_and_clip":
        assert {node["class_type"] for node in chain} == {"LoraLoader"}
        assert graph["2"]["inputs"]["clip"] == [last, 1]
    else:
        assert {node["class_type"] for node in chain} == {"LoraLoaderModelOnly"}


def test_a_style_preset_adds_to_the_prompts_the_graph_encodes_and_not_to_the_brief():
    from generations.workflows.styles import STYLES

    family = FAMILIES["sdxl"]
    brief = {**brief_for(family, "square"), "style": "watercolor"}
    graph = family.graph(brief, {"model": family.model.example})
    style = STYLES["watercolor"]
    assert graph["2"]["inputs"]["text"] == f"a lighthouse on a cliff at dusk, {style.positive}"
    assert graph["3"]["inputs"]["text"] == f"blurry, {style.negative}"
    assert brief["positive_prompt"] == "a lighthouse on a cliff at dusk"
    # Flux takes no negative prompt: the preset's negative words go nowhere.
    flux = FAMILIES["flux"]
    graph = flux.graph({**brief_for(flux, "square"), "style": "watercolor"}, {"model": flux.model.example})
    assert style.negative not in json.dumps(graph) and style.positive in graph["2"]["inputs"]["text"]


@pytest.mark.parametrize("key", [key for key, family in FAMILIES.items() if family.kind == "image"])
def test_every_picture_familys_rework_graph_starts_from_the_image_through_its_own_vae(key):
    family = FAMILIES[key]
    files = {need.role: need.example for need in family.files}
    graph = family.rework_graph(brief_for(family, "portrait"), files, UPLOADED, denoise=0.6)

    ok, error, _, node_errors = validate_prompt(copy.deepcopy(graph), server_with(family), {UPLOADED})

    assert ok, json.dumps({"error": error, "node_errors": node_errors}, indent=1)[:3000]
    assert graph["4"]["class_type"] == "VAEEncode" and graph["4"]["inputs"]["vae"] == graph["6"]["inputs"]["vae"]
    assert graph["5"]["inputs"]["latent_image"] == ["4", 0] and graph["5"]["inputs"]["denoise"] == 0.6
    assert (graph["14"]["inputs"]["width"], graph["14"]["inputs"]["height"]) == family.sizes["portrait"]
