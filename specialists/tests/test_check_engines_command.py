import json
from io import StringIO

from django.core.management import call_command


def check_engines(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_engines", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_it_lists_models_and_checkpoints_and_exits_0_when_everything_is_up(fake_ollama, fake_comfyui):
    fake_comfyui.set_checkpoints(["dreamshaper_8.safetensors"])
    code, out = check_engines()
    assert code == 0
    assert f"Ollama at {fake_ollama.url}: up, 3 model(s)" in out
    for model in ("llama3.2:latest", "qwen2.5:7b", "llava:7b"):
        assert f"- {model} (" in out
    assert f"{fake_comfyui.url}: up" in out
    assert "checkpoints: dreamshaper_8.safetensors" in out
    assert "image nodes: all present" in out and "video nodes: all present" in out
    assert "OK: everything the studio needs is there." in out
    assert "Missing" not in out


def test_it_reports_a_comfyui_server_that_does_not_answer_with_the_fix(fake_ollama, fake_comfyui, dead_url, settings):
    settings.COMFYUI_URLS = [fake_comfyui.url, dead_url]
    code, out = check_engines()
    assert code == 1
    assert f"{fake_comfyui.url}: up" in out
    assert f"{dead_url}: DOWN" in out
    missing = out.split("Missing (the studio needs these):", 1)[1]
    assert dead_url in missing and "COMFYUI_URLS" in missing
    assert "NOT READY" in out


def test_it_says_so_when_ollama_does_not_answer(fake_ollama, fake_comfyui, dead_url, settings):
    settings.OLLAMA_URL = dead_url
    code, out = check_engines()
    assert code == 1
    assert f"Ollama at {dead_url}: DOWN" in out
    assert f"Ollama is not reachable at {dead_url}" in out.split("Missing", 1)[1]
    assert "ollama serve" in out


def test_it_warns_that_the_built_in_model_is_only_a_fallback(fake_ollama, fake_comfyui, dead_url, settings):
    settings.OLLAMA_URL = dead_url
    settings.LLM_EMBEDDED_ENABLED = True
    code, out = check_engines()
    assert code == 1
    assert "in use: embedded" in out
    assert "falls back to the built-in SmolLM2 model" in out


def test_an_answering_openai_compatible_server_stands_in_for_ollama(fake_ollama, fake_comfyui, dead_url, settings):
    settings.OLLAMA_URL = dead_url
    settings.OPENAI_BASE_URL = fake_ollama.openai_url
    code, out = check_engines()
    assert code == 0
    assert "in use: openai" in out
    assert f"OpenAI-compatible server at {fake_ollama.openai_url}: up" in out
    assert f"Ollama does not answer at {dead_url}" in out.split("Warnings:", 1)[1]


def test_it_tells_how_to_install_a_checkpoint_when_there_is_none(fake_ollama, fake_comfyui):
    fake_comfyui.set_checkpoints([])
    code, out = check_engines()
    assert code == 1
    assert "checkpoints: none" in out
    assert "no checkpoint installed: put a .safetensors file in ComfyUI/models/checkpoints" in out


def test_it_tells_how_to_pull_a_model_when_ollama_has_none(fake_ollama, fake_comfyui):
    fake_ollama.models = []
    code, out = check_engines()
    assert code == 1
    assert "Ollama is running but has no models: run `ollama pull llama3.2`" in out


def test_it_warns_when_the_default_model_is_not_pulled(fake_ollama, fake_comfyui, settings):
    settings.LLM_DEFAULT_MODEL = "mistral"
    code, out = check_engines()
    assert code == 0
    assert "the default model mistral is not installed in Ollama" in out
    assert "`ollama pull mistral`" in out


def test_json_output_carries_the_same_findings(fake_ollama, fake_comfyui, dead_url, settings):
    settings.COMFYUI_URLS = [fake_comfyui.url, dead_url]
    code, out = check_engines("--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert report["llm"]["active"] == "ollama"
    assert [m["name"] for m in report["llm"]["ollama"]["models"]] == fake_ollama.models
    up, down = report["comfyui"]
    assert (up["url"], up["available"], up["checkpoints"]) == (fake_comfyui.url, True, fake_comfyui.checkpoints)
    assert up["missing_image_nodes"] == [] and up["missing_video_nodes"] == []
    assert (down["url"], down["available"]) == (dead_url, False)
    assert len(report["problems"]) == 1 and dead_url in report["problems"][0]


def test_it_checks_the_nodes_the_video_graph_really_uses_and_says_no_video_model_is_installed(
    fake_ollama, fake_comfyui
):
    fake_comfyui.remove_nodes("CreateVideo", "SaveVideo")
    code, out = check_engines()
    assert code == 0  # images still work: these limit the studio, they do not stop it
    assert "video nodes: missing CreateVideo, SaveVideo" in out and "image nodes: all present" in out
    assert f"ComfyUI at {fake_comfyui.url} lacks the video nodes CreateVideo, SaveVideo" in out
    assert "video models: none" in out
    assert f"ComfyUI at {fake_comfyui.url}: no video model is installed" in out
    assert "svd_xt.safetensors" in out and "ComfyUI/models/checkpoints" in out


def test_an_installed_video_model_is_listed_and_not_warned_about(fake_ollama, fake_comfyui):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    code, out = check_engines("--json")
    [server] = json.loads(out)["comfyui"]
    assert server["video_checkpoints"] == ["svd_xt.safetensors"] and server["missing_video_nodes"] == []
    assert not any("video" in warning for warning in json.loads(out)["warnings"])


def test_a_missing_image_node_stops_the_studio_with_the_fix(fake_ollama, fake_comfyui):
    fake_comfyui.remove_nodes("VAEEncode")  # only img2img (Rework) uses it
    code, out = check_engines()
    assert code == 1
    assert "image nodes: missing VAEEncode" in out
    assert f"ComfyUI at {fake_comfyui.url} lacks the image nodes VAEEncode: update ComfyUI" in out


def test_it_reports_each_model_family_ready_half_installed_or_absent(fake_ollama, fake_comfyui):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "dreamshaper_8.safetensors"])
    fake_comfyui.set_models("diffusion_models", ["flux1-dev.safetensors", "wan2.1_t2v_1.3B_fp16.safetensors"])
    fake_comfyui.set_models("text_encoders", ["umt5_xxl_fp8_e4m3fn_scaled.safetensors", "clip_l.safetensors"])
    fake_comfyui.set_models("vae", ["wan_2.1_vae.safetensors"])
    code, out = check_engines()
    assert "SDXL (and Pony, Illustrious): ready (sd_xl_base_1.0.safetensors)" in out
    assert "Stable Diffusion 1.5: ready (dreamshaper_8.safetensors)" in out
    assert "Wan 2.x text to video: ready (wan2.1_t2v_1.3B_fp16.safetensors)" in out
    assert (
        "Flux.1 (diffusion model, text encoders and VAE apart): flux1-dev.safetensors, but missing "
        "t5xxl_fp8_e4m3fn.safetensors in ComfyUI/models/text_encoders (for DualCLIPLoader); "
        "ae.safetensors in ComfyUI/models/vae (for VAELoader)"
    ) in out
    assert "not installed: Stable Diffusion 3.5, Flux.1 (one checkpoint), Wan 2.x image to video" in out
    # A text-to-video model is a video model: nothing to warn about
    assert "no video model is installed" not in out
    _, as_json = check_engines("--json")
    [server] = json.loads(as_json)["comfyui"]
    ready = {family["key"] for family in server["families"] if family["ready"]}
    assert ready == {"sd15", "sdxl", "wan_t2v"}
