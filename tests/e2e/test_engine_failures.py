"""When the language engine is down or lacks a model, the reply says what to do and "Try again" recovers."""

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    bubbles,
    send,
    start_session,
    wait_complete,
    wait_idle,
)

pytestmark = pytest.mark.e2e


def test_a_reply_fails_with_advice_while_ollama_is_stopped_and_try_again_works_once_it_is_back(page, studio, shot):
    studio.ollama.stop()
    start_session(page, "A paper boat crossing a flooded street")

    failed = page.locator("#messages article.msg-style.is-failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".badge-error")).to_have_text("failed")
    expect(failed.locator(".failure .error")).to_contain_text(f"Ollama is not reachable at {studio.ollama.url}")
    expect(failed.locator(".failure .error")).to_contain_text("ollama serve")
    # One failure and the team waits: nobody else hammers a dead engine.
    wait_idle(page)
    expect(bubbles(page, "Frame")).to_have_count(0)
    shot(page, "ollama-down")

    # Once Ollama is back, "Try again" asks it afresh (not a remembered "it is down").
    studio.ollama.start()
    failed.get_by_role("button", name="Try again").click()
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    expect(bubbles(page, "Luna").last).to_contain_text("Luna here.")
    shot(page, "recovered")


def test_a_specialist_whose_model_was_removed_says_how_to_pull_it_and_try_again_works_after_the_pull(
    page, studio, shot
):
    idea = "A greenhouse on the moon"
    studio.ollama.configure(models=["llama3.2", "qwen2.5:7b", "mistral:7b"])
    start_session(page, idea)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)

    page.locator(".topbar").get_by_role("link", name="Settings").click()
    page.locator("#id_model_story").select_option("mistral:7b")
    page.locator("#id_ideation_rounds").fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("Settings saved.")
    # Someone removes the model from Ollama (`ollama rm mistral:7b`).
    studio.ollama.configure(models=["llama3.2", "qwen2.5:7b"])
    page.get_by_role("link", name="Back to the studio").click()

    send(page, "Add a tomato plant growing towards the Earth.")
    failed = page.locator("#messages article.msg-story.is-failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".failure .error")).to_contain_text("model mistral:7b is not installed")
    expect(failed.locator(".failure .error")).to_contain_text("ollama pull mistral:7b")
    shot(page, "model-missing")

    studio.ollama.configure(models=["llama3.2", "qwen2.5:7b", "mistral:7b"])  # `ollama pull mistral:7b`
    failed.get_by_role("button", name="Try again").click()
    wait_complete(page, "Saga", 2)
    expect(bubbles(page, "Saga").last).to_contain_text("Saga here.")
    assert [r["json"]["model"] for r in studio.ollama.chats_by("Saga", idea)][-1] == "mistral:7b"
