"""Generating with the model families people run, against the fake ComfyUI (every built-in node of a real
0.3.64, its models folders filled per test): the brief's model picks the family's graph, files and size."""

import pytest

from generations.models import Generation, MediaOutput
from generations.services import families
from generations.services.brief import BriefError
from generations.services.catalog import get_catalog
from generations.services.generate import start_generation
from generations.tasks import run_generation

BRIEF = {"positive_prompt": "a lighthouse on a cliff at dusk", "negative_prompt": "blurry", "seed": 7, "steps": 4}
FLUX_SPLIT = {
    "diffusion_models": ["flux1-schnell.safetensors"],
    "text_encoders": ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    "vae": ["ae.safetensors"],
}
WAN_T2V = {
    "diffusion_models": ["wan2.1_t2v_1.3B_fp16.safetensors"],
    "text_encoders": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    "vae": ["wan_2.1_vae.safetensors"],
}


def install(fake, models: dict) -> None:
    from generations.services import catalog

    for folder, files in models.items():
        fake.set_models(folder, files)
    catalog.clear_cache(fake.url)


def generate(alice_session, alice, brief: dict, django_capture_on_commit_callbacks, **kwargs) -> Generation:
    with django_capture_on_commit_callbacks(execute=False):
        generation = start_generation(alice_session, brief, user=alice, **kwargs)
    run_generation.apply(args=[generation.pk])
    generation.refresh_from_db()
    return generation


def classes(generation: Generation) -> set[str]:
    return {node["class_type"] for node in generation.workflow.values()}


def test_a_split_flux_model_draws_with_its_own_encoders_vae_and_guidance(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    install(fake_comfyui, FLUX_SPLIT)
    brief = {**BRIEF, "checkpoint": "flux1-schnell.safetensors", "width": 1024, "height": 1024}
    generation = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert {"UNETLoader", "DualCLIPLoader", "VAELoader", "FluxGuidance", "EmptySD3LatentImage"} <= classes(generation)
    sampler = next(node for node in generation.workflow.values() if node["class_type"] == "KSampler")
    assert sampler["inputs"]["cfg"] == 1.0  # Flux is guided by FluxGuidance, not cfg
    loaded = next(node for node in generation.workflow.values() if node["class_type"] == "DualCLIPLoader")
    assert loaded["inputs"] == {
        "clip_name1": "t5xxl_fp8_e4m3fn.safetensors",
        "clip_name2": "clip_l.safetensors",
        "type": "flux",
    }
    assert MediaOutput.objects.filter(generation=generation, kind="image").count() == 1


def test_the_brief_offers_split_diffusion_models_among_the_picture_models(fake_comfyui):
    install(fake_comfyui, FLUX_SPLIT)
    assert "flux1-schnell.safetensors" in families.image_models(get_catalog())


def test_an_sd15_model_asked_for_1024_draws_at_its_own_size_and_says_so(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    from generations.signals import generation_started

    said = []

    def record(sender, generation, warnings, **kwargs):
        said.extend(warnings)

    generation_started.connect(record)
    try:
        brief = {**BRIEF, "checkpoint": "v1-5-pruned-emaonly.safetensors", "width": 1024, "height": 1024}
        generation = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    finally:
        generation_started.disconnect(record)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert (generation.parameters["width"], generation.parameters["height"]) == (512, 512)
    latent = next(node for node in generation.workflow.values() if node["class_type"] == "EmptyLatentImage")
    assert (latent["inputs"]["width"], latent["inputs"]["height"]) == (512, 512)
    assert "Stable Diffusion 1.5 draws at 256–896 px a side, so 1024×1024 became 512×512 (square)." in said


def test_a_video_is_made_from_text_by_an_installed_wan_model(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    install(fake_comfyui, WAN_T2V)
    brief = {**BRIEF, "media_kind": "video", "frames": 30, "width": 1024, "height": 576}
    generation = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.kind == "video" and "EmptyHunyuanLatentVideo" in classes(generation)
    assert "SVD_img2vid_Conditioning" not in classes(generation)  # no key frame needed
    latent = next(node for node in generation.workflow.values() if node["class_type"] == "EmptyHunyuanLatentVideo")
    assert latent["inputs"]["length"] == 29  # 4k + 1 frames, the nearest to the 30 asked for
    assert (generation.parameters["width"], generation.parameters["height"]) == (1024, 576)
    assert generation.parameters["video_model"] == "wan2.1_t2v_1.3B_fp16.safetensors"
    assert MediaOutput.objects.filter(generation=generation, kind="video").exists()


def test_without_a_text_to_video_model_a_video_animates_a_key_frame(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    brief = {**BRIEF, "media_kind": "video", "frames": 8, "width": 1024, "height": 576}
    generation = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert "SVD_img2vid_Conditioning" in classes(generation)


def test_with_no_video_model_at_all_a_video_is_refused_saying_which_files_would_do(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors"])
    with pytest.raises(BriefError, match="svd_xt.safetensors .*Wan or LTX-Video") as refused:
        generate(alice_session, alice, {**BRIEF, "media_kind": "video"}, django_capture_on_commit_callbacks)
    assert "check_engines" in str(refused.value)
    assert not Generation.objects.exists()


def test_a_family_missing_one_of_its_files_says_which_and_where(fake_comfyui):
    install(fake_comfyui, {**FLUX_SPLIT, "vae": []})
    report = families.report(get_catalog(), families.FAMILIES["flux_split"])
    assert report.models == ["flux1-schnell.safetensors"] and not report.ready
    assert report.missing == ["ae.safetensors in ComfyUI/models/vae (for VAELoader)"]


def test_an_aspect_preset_draws_at_the_family_size_and_a_video_at_its_video_models_size(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    install(fake_comfyui, WAN_T2V)
    brief = {**BRIEF, "checkpoint": "v1-5-pruned-emaonly.safetensors", "aspect": "portrait"}
    picture = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    assert (picture.parameters["width"], picture.parameters["height"]) == (512, 768)
    video = generate(alice_session, alice, {**brief, "media_kind": "video"}, django_capture_on_commit_callbacks)
    assert video.status == Generation.Status.COMPLETE, video.error
    assert (video.parameters["width"], video.parameters["height"]) == families.FAMILIES["wan_t2v"].sizes["portrait"]


def test_a_typed_size_outside_the_familys_range_is_refused_saying_what_to_change(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    brief = {
        **BRIEF,
        "checkpoint": "v1-5-pruned-emaonly.safetensors",
        "aspect": "custom",
        "width": 1024,
        "height": 1536,
    }
    with pytest.raises(BriefError) as refused:
        generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    assert str(refused.value) == (
        "Stable Diffusion 1.5 draws at 256–896 px a side, and 1024×1536 is outside that: type a size within it, "
        "or choose the portrait aspect (512×768)"
    )
    assert not Generation.objects.exists()
    inside = generate(alice_session, alice, {**brief, "width": 640, "height": 896}, django_capture_on_commit_callbacks)
    assert (inside.parameters["width"], inside.parameters["height"]) == (640, 896)


def test_loras_and_a_style_reach_the_graph_and_a_lora_that_is_not_installed_is_refused(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    from generations.workflows.styles import STYLES

    install(fake_comfyui, {"loras": ["ink.safetensors"]})
    brief = {**BRIEF, "checkpoint": "v1-5-pruned-emaonly.safetensors", "style": "pixel"}
    with pytest.raises(BriefError, match="the LoRA gone.safetensors is not installed on ComfyUI"):
        generate(alice_session, alice, {**brief, "loras": ["gone.safetensors"]}, django_capture_on_commit_callbacks)
    assert not Generation.objects.exists()

    generation = generate(
        alice_session,
        alice,
        {**brief, "loras": [{"name": "ink.safetensors", "strength": 0.6}]},
        django_capture_on_commit_callbacks,
    )
    assert generation.status == Generation.Status.COMPLETE, generation.error
    [lora] = [node for node in generation.workflow.values() if node["class_type"] == "LoraLoader"]
    assert lora["inputs"]["lora_name"] == "ink.safetensors" and lora["inputs"]["strength_model"] == 0.6
    encoded = [
        node["inputs"]["text"] for node in generation.workflow.values() if node["class_type"] == "CLIPTextEncode"
    ]
    assert f"a lighthouse on a cliff at dusk, {STYLES['pixel'].positive}" in encoded
    assert generation.parameters["positive_prompt"] == "a lighthouse on a cliff at dusk"
    assert generation.parameters["style"] == "pixel"


def test_a_rework_keeps_the_loras_and_style_of_the_image_it_starts_from(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    from generations.services.generate import rework

    install(fake_comfyui, {"loras": ["ink.safetensors"]})
    brief = {**BRIEF, "checkpoint": "v1-5-pruned-emaonly.safetensors", "style": "pixel", "loras": ["ink.safetensors"]}
    first = generate(alice_session, alice, brief, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        again = rework(first, user=alice)
    run_generation.apply(args=[again.pk])
    again.refresh_from_db()
    assert again.status == Generation.Status.COMPLETE, again.error
    assert "LoraLoader" in classes(again) and "LoadImage" in classes(again)


def test_a_split_flux_picture_is_reworked_with_its_own_loaders(
    fake_comfyui, alice, alice_session, django_capture_on_commit_callbacks
):
    from generations.services.generate import rework

    install(fake_comfyui, FLUX_SPLIT)
    first = generate(
        alice_session, alice, {**BRIEF, "checkpoint": "flux1-schnell.safetensors"}, django_capture_on_commit_callbacks
    )
    with django_capture_on_commit_callbacks(execute=False):
        again = rework(first, user=alice)
    run_generation.apply(args=[again.pk])
    again.refresh_from_db()
    assert again.status == Generation.Status.COMPLETE, again.error
    assert {"UNETLoader", "DualCLIPLoader", "LoadImage", "VAEEncode"} <= classes(again)
    assert "CheckpointLoaderSimple" not in classes(again)  # a diffusion model is no checkpoint
    [loaded] = [node for node in again.workflow.values() if node["class_type"] == "LoadImage"]
    assert loaded["inputs"]["image"] != "pending-upload.png"  # the worker uploaded the picture first
