"""Choosing which installed model each specialist uses, on the session's settings page."""

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
