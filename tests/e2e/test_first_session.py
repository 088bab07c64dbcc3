"""A newcomer opens the studio, starts a session with an idea and watches the team answer live."""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    TEAM,
    assert_streamed_cleanly,
    body_of,
    bubbles,
    current_phase,
    growth,
    message_id,
    start_session,
    wait_complete,
    wait_idle,
)

pytestmark = pytest.mark.e2e

IDEA = "A lighthouse keeper's last night before the light goes automatic"
TITLE = "A lighthouse keeper's last night before the light goes…"


def test_a_newcomer_starts_a_session_and_watches_the_team_stream_their_replies(page, shot):
    page.goto("/")
    # No sign-up: the local user is signed in on a loopback-only studio.
    assert urlparse(page.url).path == "/", page.url
    expect(page.get_by_role("heading", name="What do you want to make?")).to_be_visible()
    expect(page.locator(".topbar nav")).to_contain_text("local")
    expect(page.get_by_text("No sessions yet")).to_be_visible()
    shot(page, "landing")

    start_session(page, IDEA)
    # Without a title the session is named after the idea (shortened to fit).
    expect(page.locator("h1.session-title")).to_have_text(TITLE)
    expect(bubbles(page, "You").first).to_contain_text(IDEA)
    expect(current_phase(page)).to_have_text("Ideation")
    team = page.locator(".team li:has(.avatar)")
    expect(team).to_have_count(5)
    for name, item in zip(TEAM, team.all(), strict=True):
        expect(item).to_contain_text(name)

    # Luna starts talking first; her bubble shows the typing dots while tokens arrive.
    expect(bubbles(page, "Luna").first).to_be_visible(timeout=15_000)
    shot(page, "streaming")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    shot(page, "round-one-complete")

    for name in IDEATION_SPEAKERS:
        bubble = bubbles(page, name).first
        text = body_of(bubble).text_content()
        assert text.startswith(f"{name} here."), text
        lengths = growth(page, message_id(bubble))
        # Seen growing token by token, never shrinking, ending at the full reply.
        assert len(lengths) >= 5, f"{name}'s text did not visibly stream: {lengths}"
        assert lengths == sorted(lengths), lengths
        assert lengths[-1] == len(text)
        assert_streamed_cleanly(page, message_id(bubble), text)
        expect(bubble.locator(".typing")).to_have_count(0)
        expect(bubble).not_to_have_class("is-streaming")

    # After one round the team waits for the artist; the session is listed on the landing page.
    expect(current_phase(page)).to_have_text("Ideation")
    page.goto("/")
    expect(page.locator(".session-list li")).to_have_count(1)
    expect(page.locator(".session-list li")).to_contain_text(TITLE)
