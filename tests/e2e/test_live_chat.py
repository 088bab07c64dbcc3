"""Talking over the team, pausing it, skipping ahead, reloading mid-reply, and the studio on a phone."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import TOKEN_DELAY
from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    article_ids,
    assert_streamed_cleanly,
    body_of,
    bubbles,
    message_id,
    send,
    start_session,
    texts,
    wait_complete,
    wait_connected,
    wait_for_js,
    wait_idle,
    wait_streaming_text,
)

pytestmark = pytest.mark.e2e

SLOW = 0.12  # seconds per token: a reply takes a few seconds, time enough to act mid-sentence
IDLE_SECONDS = 8  # longer than channels-redis' 5 s blocking read and redis-py's default 5 s socket timeout


def test_an_interjection_stops_the_speaker_keeps_their_words_and_the_team_answers_it(page, studio, shot):
    studio.ollama.configure(token_delay=SLOW)
    start_session(page, "An orchard in autumn, seen by a child")
    speaking = wait_streaming_text(page, "Luna", 25)
    said_so_far = body_of(speaking).text_content()
    luna = message_id(speaking)

    send(page, "Actually, make it winter.")
    interrupted = page.locator(f"#message-{luna}")
    expect(interrupted).to_have_class(re.compile(r"\bis-interrupted\b"))
    expect(interrupted.locator(".badge")).to_have_text("interrupted")
    kept = body_of(interrupted).text_content()
    assert kept.startswith(said_so_far) and len(kept) > 0, (said_so_far, kept)
    expect(interrupted.locator(".typing")).to_have_count(0)
    # The composer is cleared for the next message and the interjection is in the chat after Luna's words.
    expect(page.locator("#composer-text")).to_have_value("")
    you = bubbles(page, "You").last
    expect(you).to_contain_text("Actually, make it winter.")
    assert int(you.get_attribute("data-order")) > int(interrupted.get_attribute("data-order"))
    shot(page, "interrupted")

    studio.ollama.configure(token_delay=TOKEN_DELAY)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    # Luna starts over, answering the artist's new direction; the others speak after the interjection too.
    expect(bubbles(page, "Luna")).to_have_count(2)
    expect(bubbles(page, "Luna").last).to_contain_text("winter")
    for name in IDEATION_SPEAKERS:
        assert int(bubbles(page, name).last.get_attribute("data-order")) > int(you.get_attribute("data-order"))
        assert studio.ollama.chats_by(name, "Actually, make it winter."), f"{name} never heard the interjection"
    shot(page, "answered")


def test_a_reload_mid_stream_shows_each_message_once_and_the_reply_carries_on(page, studio, shot):
    studio.ollama.configure(token_delay=SLOW)
    start_session(page, "A tram at night full of sleeping musicians")
    speaking = wait_streaming_text(page, "Luna", 20)
    streaming_id = message_id(speaking)
    before = body_of(speaking).text_content()

    page.reload()
    wait_connected(page)
    ids = article_ids(page)
    assert len(ids) == len(set(ids)), ids
    again = page.locator(f"#message-{streaming_id}")
    expect(again).to_have_count(1)
    expect(bubbles(page, "You")).to_have_count(1)
    # The text so far arrives with the page or the socket's snapshot, then keeps growing.
    body_id, grown = f"message-{streaming_id}-body", len(before) + 3
    wait_for_js(page, "([id, n]) => (document.getElementById(id)?.textContent.length || 0) > n", [body_id, grown])
    shot(page, "reloaded-mid-stream")

    studio.ollama.configure(token_delay=TOKEN_DELAY)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    final = body_of(again).text_content()
    assert final.startswith(before)
    # Before and after the reload the streaming bubble only ever showed the beginning of its final text.
    assert_streamed_cleanly(page, streaming_id, final)
    live = texts(page)

    page.reload()  # everything now comes from the database
    wait_connected(page)
    wait_idle(page)
    stored = texts(page)
    assert stored == live
    assert list(stored) == article_ids(page) and len(set(stored)) == len(stored)


def test_an_idle_studio_page_keeps_its_connection(page, shot):
    start_session(page, "A lantern festival seen from a rooftop")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    # The team now waits for the artist. Someone reading the replies for a while must not be disconnected
    # (an idle channel-layer read longer than the Redis client's socket timeout used to drop the socket).
    page.wait_for_timeout(IDLE_SECONDS * 1000)
    assert page.evaluate("window.__socketCloses") == 0, "the studio's websocket dropped while the page sat idle"
    expect(page.locator("#connection")).to_have_text("")
    shot(page, "idle")


def test_when_the_team_waits_the_composer_says_so_and_moves_on_with_one_press(page, shot):
    start_session(page, "A kite festival over a salt flat")
    cue = page.locator("#turn-cue")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    expect(cue).to_contain_text("Your turn — reply to the team, or move on to Refinement.")
    shot(page, "your-turn")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(cue).to_be_visible()
    expect(page.locator("#composer-text")).to_be_in_viewport()
    shot(page, "your-turn-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    cue.get_by_role("button", name="Move on to Refinement ›").click()
    expect(page.locator("#phase-indicator li.phase.now")).to_have_text("Refinement")
    # The cue of ideation is gone with it: the team talks, then says what comes next.
    expect(cue).not_to_contain_text("move on to Refinement")


AT_BOTTOM = """() => {
  const m = document.getElementById('messages');
  return m.scrollHeight - m.scrollTop - m.clientHeight < 160;
}"""


def test_new_content_is_announced_below_while_reading_back_and_what_the_artist_did_is_brought_into_view(
    page, context, shot
):
    page.set_viewport_size({"width": 390, "height": 844})
    start_session(page, "A lantern parade in the rain, seen from a bridge over the river")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_connected(page)
    page.evaluate("document.getElementById('messages').scrollTop = 0")
    assert not page.evaluate(AT_BOTTOM), "the chat is too short to read back in"

    # Words from another tab arrive while the artist reads back: announced, not forced on them.
    other = context.new_page()
    other.goto(page.url)
    wait_connected(other)
    send(other, "Make the lanterns blue.")
    new_below = page.locator("#new-below")
    expect(new_below).to_be_visible()
    assert page.evaluate("document.getElementById('messages').scrollTop") < 50
    shot(page, "new-below")
    new_below.click()
    expect(new_below).to_be_hidden()
    assert page.evaluate(AT_BOTTOM)
    other.close()

    # What the artist's own press makes comes into view even from far up the chat.
    page.evaluate("document.getElementById('messages').scrollTop = 0")
    page.locator("#composer").get_by_role("button", name="Pause").click()
    expect(page.locator("#messages article.msg-notice", has_text="You paused the team")).to_be_in_viewport()
    expect(new_below).to_be_hidden()
    shot(page, "followed")


PHONE_HEAD = """() => {
  const bar = document.querySelector('.topbar').getBoundingClientRect();
  const head = document.getElementById('studio-head').getBoundingClientRect();
  const chat = document.getElementById('messages').getBoundingClientRect();
  return {head: head.bottom - bar.top, chat: chat.height};
}"""


def test_on_a_phone_the_head_is_compact_and_the_chat_and_composer_get_the_screen(page, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    start_session(page, "A kite festival over a salt flat, seen from a hot-air balloon")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    sizes = page.evaluate(PHONE_HEAD)
    # Title, menu and the current phase with Back and Next: no more than the top bar and two short lines.
    assert sizes["head"] <= 150, sizes
    assert sizes["chat"] >= 480, sizes
    expect(page.locator("#composer-text")).to_be_in_viewport()
    expect(page.locator("#composer").get_by_role("button", name="Send")).to_be_in_viewport()
    expect(page.locator("#phase-indicator li.phase.now")).to_be_visible()
    expect(page.locator("#phase-indicator li.phase", has_text="Synthesis")).to_be_hidden()
    expect(page.locator(".team")).to_be_hidden()
    expect(page.locator("#phase-indicator").get_by_role("button", name="Next phase ›")).to_be_in_viewport()
    shot(page, "phone")

    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".team")).to_be_visible()
    expect(page.locator("#phase-indicator li.phase", has_text="Synthesis")).to_be_visible()
    shot(page, "phone-menu")
    # The phase changes while the menu is open: the new indicator is still shown in full.
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    expect(page.locator("#phase-indicator li.phase.now")).to_have_text("Refinement")
    expect(page.locator("#phase-indicator li.phase", has_text="Synthesis")).to_be_visible()
    menu.click()
    expect(page.locator(".team")).to_be_hidden()

    page.set_viewport_size({"width": 1440, "height": 900})
    expect(menu).to_be_hidden()
    expect(page.locator(".team")).to_be_visible()
    expect(page.locator("#phase-indicator li.phase", has_text="Synthesis")).to_be_visible()
    shot(page, "desktop")


VISIBLE_EMPTY_BUBBLES = """() => [...document.querySelectorAll('#messages > article.msg')]
  .filter(a => !a.hidden && a.querySelector('[id$="-body"]') && !a.querySelector('[id$="-body"]').hidden)
  .filter(a => a.querySelector('[id$="-body"]').textContent.trim() === '' && !a.classList.contains('is-streaming'))
  .map(a => a.id)"""


def test_pause_becomes_resume_says_so_once_and_skipping_phases_leaves_no_empty_bubbles(page, studio, shot):
    studio.ollama.configure(token_delay=SLOW)
    start_session(page, "A night market on a floating bridge")
    wait_streaming_text(page, "Luna", 10)
    pause = page.locator("#composer").get_by_role("button", name="Pause")
    pause.click()
    resume = page.locator("#composer").get_by_role("button", name="Resume")
    expect(resume).to_be_visible()
    expect(pause).to_have_count(0)
    paused_notices = page.locator("#messages article.msg-notice", has_text="paused")
    expect(paused_notices).to_have_count(1)
    wait_idle(page)
    # Resume brings Pause back, and the chat keeps its one notice.
    resume.click()
    expect(page.locator("#composer").get_by_role("button", name="Pause")).to_be_visible()
    expect(paused_notices).to_have_count(1)

    # The artist skips ahead twice while the team is about to speak: whoever was cut before a word leaves no
    # empty bubble behind.
    next_phase = page.locator("#phase-indicator").get_by_role("button", name="Next phase ›")
    next_phase.click()
    expect(page.locator("#phase-indicator li.phase.now")).to_have_text("Refinement")
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    expect(page.locator("#phase-indicator li.phase.now")).to_have_text(re.compile("Synthesis|Review"))
    studio.ollama.configure(token_delay=TOKEN_DELAY)
    wait_idle(page, timeout=60_000)
    assert page.evaluate(VISIBLE_EMPTY_BUBBLES) == []
    page.reload()
    wait_connected(page)
    assert page.evaluate(VISIBLE_EMPTY_BUBBLES) == []
    shot(page, "skipped")
