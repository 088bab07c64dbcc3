"""The session's settings: each specialist's model (on the settings page and from the team bar) and a custom
ComfyUI workflow."""

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import IDEATION_SPEAKERS, bubbles, send, start_session, wait_complete, wait_idle

pytestmark = pytest.mark.e2e

IDEA = "A fox reading a map in the snow"


def open_settings(page):
    page.locator(".topbar").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Session settings")).to_be_visible()


def test_a_specialist_assigned_another_model_answers_with_it(page, studio, shot):
    start_session(page, IDEA)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)

    open_settings(page)
    frame_choice = page.locator("#id_model_composition")
    options = frame_choice.locator("option").all_text_contents()
    # Every model the engine has installed is offered with what the engine says it can do, plus the default.
    for installed, can in (
        ("llama3.2:latest", "uses tools"),
        ("qwen2.5:7b", "uses tools"),
        ("llava:7b", "sees images"),
    ):
        assert f"{installed} — {can}" in options, options
    assert options[0].startswith("Default")
    expect(page.get_by_text("3 installed")).to_be_visible()
    shot(page, "settings")

    frame_choice.select_option("qwen2.5:7b")
    # Keep the team in ideation so the test ends after the reply it is about.
    page.locator("#id_ideation_rounds").fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("Settings saved.")
    expect(page.locator("#id_model_composition")).to_have_value("qwen2.5:7b")
    expect(page.locator("#id_model_style")).to_have_value("")

    page.get_by_role("link", name="Back to the studio").click()
    send(page, "Make the snow blue and the fox tiny.")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 2)
    expect(bubbles(page, "Frame").last).to_contain_text("Frame here.")

    frame_models = [r["json"]["model"] for r in studio.ollama.chats_by("Frame", IDEA)]
    luna_models = [r["json"]["model"] for r in studio.ollama.chats_by("Luna", IDEA)]
    assert frame_models == ["llama3.2", "qwen2.5:7b"], frame_models
    assert luna_models == ["llama3.2", "llama3.2"], luna_models


def test_a_specialists_model_is_changed_from_the_team_bar(page, studio, shot):
    start_session(page, "A glasshouse full of moths at night")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    page.locator("#team .team-models > details > summary").click()
    frame_choice = page.locator("#team-models-panel #id_model_composition")
    expect(frame_choice).to_be_visible()
    expect(frame_choice.locator("option").first).to_have_text("Default (llama3.2)")
    frame_choice.select_option("qwen2.5:7b")
    page.set_viewport_size({"width": 1440, "height": 900})
    shot(page, "team-models")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Menu").click()
    shot(page, "team-models-phone")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_role("button", name="Use these models").click()
    expect(page.locator('#team li[title^="Frame"]')).to_contain_text("qwen2.5:7b")
    expect(page.locator("#team-models-panel")).to_be_hidden()

    send(page, "Frame, where should the moths gather?")
    wait_complete(page, "Frame", 2)
    expect(bubbles(page, "Frame").last.locator(".model-tag")).to_have_text("qwen2.5:7b")
    expect(bubbles(page, "Luna").last.locator(".model-tag")).to_have_text("llama3.2")
    shot(page, "frame-on-qwen")


WORKFLOW = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}},
    "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "4": {
        "class_type": "KSampler",
        "inputs": {
            "model": ["1", 0],
            "positive": ["2", 0],
            "negative": ["2", 0],
            "latent_image": ["3", 0],
            "seed": 1,
            "steps": 4,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
        },
    },
    "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
    "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "studio"}},
}


def test_a_refused_workflow_upload_keeps_the_file_and_fields_entered(page, tmp_path, shot):
    start_session(page, "A heron in a rice field")
    open_settings(page)
    path = tmp_path / "heron.json"
    path.write_text(json.dumps(WORKFLOW))
    form = page.locator("form.workflow-form")
    form.locator("#wf-name").fill("Heron graph")
    form.locator("#wf-file").set_input_files(str(path))
    form.locator("#wf-pos").fill("99.text")
    form.locator("#wf-seed").fill("4.seed")
    form.get_by_role("button", name="Upload workflow").click()
    expect(form.get_by_role("alert")).to_contain_text("node 99 is not in the workflow")
    # Nothing was lost: the name, the file and the other targets are still there to correct one field.
    expect(form.locator("#wf-name")).to_have_value("Heron graph")
    expect(form.locator("#wf-seed")).to_have_value("4.seed")
    assert form.locator("#wf-file").evaluate("input => input.files.length") == 1
    shot(page, "upload-refused")

    form.locator("#wf-pos").fill("2.text")
    form.get_by_role("button", name="Upload workflow").click()
    expect(page.locator(".flash")).to_contain_text("Custom workflow saved.")
    expect(page.get_by_text("Using Heron graph")).to_be_visible()
    page.get_by_role("link", name="Back to the studio").click()
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    note = page.locator("#messages form.brief-card .workflow-note").last
    expect(note).to_contain_text("(Heron graph) takes only the prompt and seed from this card", timeout=60_000)
    note.scroll_into_view_if_needed()
    shot(page, "card-note")
