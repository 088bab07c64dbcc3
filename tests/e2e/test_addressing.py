"""Talking to one specialist: a direct question, and muting one from the team bar."""

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    bubbles,
    send,
    start_session,
    wait_complete,
    wait_idle,
    wait_reviewed_brief,
)

pytestmark = pytest.mark.e2e


def test_a_direct_question_is_answered_by_that_specialist_alone_and_a_muted_one_sits_out(page, shot):
    start_session(page, "A harbour town at low tide, seen from the lighthouse gallery")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)

    send(page, "Frame, where should the horizon sit?")
    wait_complete(page, "Frame", 2)
    wait_idle(page)
    expect(bubbles(page, "Luna")).to_have_count(1)
    expect(bubbles(page, "Saga")).to_have_count(1)
    # Frame's answer follows the question directly, and the composer says it is the artist's turn again.
    you = bubbles(page, "You").last
    answer = bubbles(page, "Frame").last
    assert int(answer.get_attribute("data-order")) > int(you.get_attribute("data-order"))
    expect(page.locator("#turn-cue")).to_contain_text("Your turn")
    page.set_viewport_size({"width": 1440, "height": 900})
    shot(page, "direct-question")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "direct-question-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    # Saga is muted from the team bar: the next round goes on without her, until the artist names her.
    saga = page.locator("#team li", has_text="Saga")
    saga.get_by_role("button", name="Mute Saga").click()
    expect(page.get_by_role("button", name="Mute Saga")).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.get_by_role("button", name="Mute Saga")).to_have_attribute("aria-pressed", "true")
    # The question did not use up a round: this is ideation's second and last; refinement, Pixel's brief and
    # Lens's review follow by themselves, all without Saga.
    send(page, "Make it a spring tide instead.")
    wait_complete(page, "Luna", 2)
    wait_reviewed_brief(page)
    wait_idle(page)
    expect(bubbles(page, "Luna")).to_have_count(3)
    expect(bubbles(page, "Saga")).to_have_count(1)
    briefs = page.locator("#messages article.msg-brief").count()
    # Named, she answers; a question to one specialist in review does not send Pixel back to the brief.
    send(page, "@Saga who waits on the pier?")
    wait_complete(page, "Saga", 2)
    wait_idle(page)
    expect(page.locator("#phase-indicator li.phase.now")).to_have_text("Review")
    expect(bubbles(page, "Luna")).to_have_count(3)
    assert page.locator("#messages article.msg-brief").count() == briefs
    shot(page, "muted")

    page.get_by_role("button", name="Mute Saga").click()
    expect(page.get_by_role("button", name="Mute Saga")).to_have_attribute("aria-pressed", "false")
