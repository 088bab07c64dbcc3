"""The artist's hand on single replies: Continue a cut reply, Regenerate one, Edit their own last words."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    body_of,
    bubbles,
    start_session,
    wait_complete,
    wait_idle,
)

pytestmark = pytest.mark.e2e


def live_bubbles(page, name):
    return bubbles(page, name).locator(":scope:not(.is-superseded)")


def test_continue_a_cut_reply_regenerate_one_and_edit_the_last_words(page, studio, shot):
    studio.ollama.configure(responder="long")
    start_session(page, "A tram crossing a bridge in fog")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    luna = bubbles(page, "Luna").first
    expect(luna.locator(".cut-note")).to_have_text("Cut short at the reply length limit.")
    page.set_viewport_size({"width": 1440, "height": 900})
    luna.scroll_into_view_if_needed()
    shot(page, "cut")

    # Continue: Luna goes on in a new bubble; the cut reply stays as it was.
    cut_text = body_of(luna).inner_text()
    luna.get_by_role("button", name="Continue Luna's reply").click()
    expect(page.locator("#messages article.msg-notice", has_text="You asked Luna to go on.")).to_have_count(1)
    wait_complete(page, "Luna", 2)
    wait_idle(page)
    assert body_of(bubbles(page, "Luna").first).inner_text() == cut_text
    studio.ollama.configure(responder="default")

    # Regenerate: Frame's reply folds away as an earlier take and a new one arrives.
    frame = bubbles(page, "Frame").first
    frame.get_by_role("button", name="Regenerate Frame's reply").click()
    expect(page.locator("#messages article.msg-notice", has_text="You asked Frame for another take.")).to_have_count(1)
    expect(bubbles(page, "Frame").first).to_have_class(re.compile(r"\bis-superseded\b"))
    expect(bubbles(page, "Frame").first.locator("summary")).to_contain_text("earlier take")
    wait_complete(page, "Frame", 1)  # the new take (the folded one is no longer a complete bubble)
    expect(live_bubbles(page, "Frame")).to_have_count(1)
    wait_idle(page)
    shot(page, "regenerated")

    # Edit: only the artist's last words offer it; the team answers the new words.
    you = bubbles(page, "You").first
    you.locator("details.edit-own > summary").click()
    editor = you.locator("textarea")
    expect(editor).to_have_value("A tram crossing a bridge in fog")
    editor.fill("A tram crossing a bridge in snow")
    shot(page, "editing")
    you.get_by_role("button", name="Send again").click()
    expect(bubbles(page, "You").first.locator("summary")).to_contain_text("edited")
    expect(live_bubbles(page, "You")).to_have_count(1)
    expect(live_bubbles(page, "You").first).to_contain_text("A tram crossing a bridge in snow")
    for name in IDEATION_SPEAKERS:
        expect(live_bubbles(page, name)).to_have_count(1, timeout=30_000)
    wait_idle(page)
    for name in IDEATION_SPEAKERS:
        expect(live_bubbles(page, name).first).to_have_class(re.compile(r"\bis-complete\b"))
    # The earlier words and every answer to them are folded, not lost.
    expect(page.locator("#messages article.is-superseded")).to_have_count(6)
    # The replies before the artist's last words no longer offer Regenerate; the last words still offer Edit.
    expect(page.locator("#messages article.is-superseded").first.get_by_role("button")).to_have_count(0)
    expect(live_bubbles(page, "You").first.locator("details.edit-own")).to_be_visible()
    shot(page, "edited")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "edited-phone")
