"""Every page passes axe-core with no serious or critical violation, on a laptop and on a phone.

axe-core (npm, vendored in tests/e2e/vendor for these tests only) is injected into a context that bypasses the
studio's Content-Security-Policy: the policy rightly refuses an injected script, and the pages are checked as
they are.
"""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM_ARGS  # noqa: F401 - the same browser as every browser test
from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    generate,
    session_id,
    skip_to_review,
    start_session,
    wait_complete,
    wait_connected,
    wait_generation,
    wait_idle,
    wait_streaming_text,
)

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA, and axe's best practices.
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
def axe_page(browser, studio, request, shot):
    context = browser.new_context(base_url=studio.base_url, viewport={"width": 1440, "height": 900}, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "rules => axe.run(document, {runOnly: {type: 'tag', values: rules}, resultTypes: ['violations']})", RULES
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
            "why": v["nodes"][0].get("failureSummary", "")[:300] if v["nodes"] else "",
        }
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def check(page, where: str) -> None:
    found = violations(page)
    assert not found, f"{where}: " + json.dumps(found, indent=1)


def test_every_page_has_no_serious_accessibility_violation(axe_page, studio, shot):
    page = axe_page
    page.goto("/")
    check(page, "home (empty)")

    studio.ollama.configure(token_delay=0.08)
    start_session(page, "A lighthouse keeper's cat watching the storm")
    wait_streaming_text(page, "Luna", 5)
    check(page, "studio while Luna is replying")
    studio.ollama.configure(token_delay=0.01)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    wait_idle(page)
    check(page, "studio, ideation")
    skip_to_review(page)
    card = generate(page, steps=4)
    wait_generation(card)
    wait_idle(page)
    check(page, "studio with a brief and a picture")
    page.locator("#team .team-models > details > summary").click()
    expect(page.locator("#team-models-panel select").first).to_be_visible()
    check(page, "studio with the model picker open")
    page.set_viewport_size({"width": 390, "height": 844})
    check(page, "studio on a phone")
    page.get_by_role("button", name="Menu").click()
    check(page, "studio on a phone, menu open")
    page.set_viewport_size({"width": 1440, "height": 900})

    number = session_id(page)
    output = card.locator(".outputs img").get_attribute("src").strip("/").split("/")[-1]
    for path, where in (
        (f"/gallery/?session={number}", "gallery"),
        (f"/gallery/{output}/", "viewer"),
        ("/", "home with a session"),
        (f"/sessions/{number}/settings/", "settings"),
        ("/engines/", "engines"),
        ("/sessions/999999/", "not found"),
    ):
        page.goto(path)
        check(page, where)
    page.goto(f"/sessions/{number}/")
    wait_connected(page)


def test_a_screen_reader_hears_who_talks_not_every_token_and_a_keyboard_skips_to_the_message_box(page, studio):
    studio.ollama.configure(token_delay=0.08)
    start_session(page, "A kettle that sings opera")
    status = page.locator("#team-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_contain_text("is replying")
    # The chat itself is no live region: the tokens are not read out.
    assert page.locator("#messages").get_attribute("aria-live") is None
    live_bodies = page.evaluate(
        """() => [...document.querySelectorAll('#messages [id$="-body"]')]
              .filter(b => b.closest('[aria-live], [role=status], [role=log], [role=alert]')).map(b => b.id)"""
    )
    assert live_bodies == [], "a reply's text is inside a live region"
    studio.ollama.configure(token_delay=0.01)
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    expect(status).to_contain_text("Saga finished.")
    assert "Saga here" not in status.inner_text()

    page.reload()
    wait_connected(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the message box")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-text")).to_be_focused()
