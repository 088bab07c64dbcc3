"""What a person does and sees on the studio pages, in Playwright terms.

Selectors come from the templates: templates/core/home.html (new session form), templates/core/studio.html
(#phase-indicator, .team, #composer), templates/specialists/_message.html (article.msg-<role> is-<status>,
#message-<id>-body, .badge, .failure) and static/js/studio.js (body[data-ws="open"] once the socket is up).
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page, expect

ROLE = {"Luna": "style", "Frame": "composition", "Saga": "story", "Pixel": "technical", "Lens": "critic"}
TEAM = ["Luna", "Frame", "Saga", "Pixel", "Lens"]
IDEATION_SPEAKERS = ["Luna", "Frame", "Saga"]
REPLY_TIMEOUT = 30_000


def start_session(page: Page, idea: str, title: str = "") -> int:
    page.goto("/")
    page.locator("#id_idea").fill(idea)
    if title:
        page.locator("form.new-session input[name=title]").fill(title)
    page.get_by_role("button", name="Start a session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))
    wait_connected(page)
    return session_id(page)


def session_id(page: Page) -> int:
    return int(re.search(r"/sessions/(\d+)/", page.url).group(1))


def wait_for_js(page: Page, expression: str, arg=None, *, timeout: float = 15_000) -> None:
    """Wait until ``expression`` (a function of ``arg``, or an expression) is true in the page.

    Page.wait_for_function polls with eval inside the page, which the studio's Content-Security-Policy
    (rightly) refuses; page.evaluate goes through the DevTools protocol, so poll from here.
    """
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout / 1000:g} s waiting for: {expression}")
        page.wait_for_timeout(50)


def wait_connected(page: Page) -> None:
    wait_for_js(page, "() => document.body.dataset.ws === 'open'")


def bubbles(page: Page, name: str) -> Locator:
    """Every chat bubble of a specialist (by persona name) or "You"."""
    role = "user" if name == "You" else ROLE[name]
    return page.locator(f"#messages article.msg-{role}")


def body_of(bubble: Locator) -> Locator:
    return bubble.locator('[id^="message-"][id$="-body"]')


def message_id(bubble: Locator) -> int:
    return int(bubble.get_attribute("id").removeprefix("message-"))


def wait_count(locator: Locator, count: int, timeout: float = REPLY_TIMEOUT) -> None:
    expect(locator).to_have_count(count, timeout=timeout)


def wait_complete(page: Page, name: str, count: int, timeout: float = REPLY_TIMEOUT) -> None:
    """Wait until ``name`` has ``count`` finished replies."""
    role = ROLE[name]
    expect(page.locator(f"#messages article.msg-{role}.is-complete")).to_have_count(count, timeout=timeout)


def wait_idle(page: Page, timeout: float = REPLY_TIMEOUT) -> None:
    """Nobody is typing."""
    expect(page.locator("#messages article.is-streaming")).to_have_count(0, timeout=timeout)


def current_phase(page: Page) -> Locator:
    return page.locator('#phase-indicator li.phase[aria-current="step"]')


def send(page: Page, text: str) -> None:
    box = page.locator("#composer-text")
    box.fill(text)
    page.locator("#composer").get_by_role("button", name="Send").click()


def texts_seen(page: Page, message: int) -> list[str]:
    """Every text the bubble's body showed in this tab, in order (recorded by the harness' MutationObserver)."""
    return page.evaluate(f"window.__growth['message-{message}-body'] || []")


def growth(page: Page, message: int) -> list[int]:
    return [len(text) for text in texts_seen(page, message)]


def assert_streamed_cleanly(page: Page, message: int, final: str) -> None:
    """Whatever the bubble showed while streaming was the start of its final text: no token lost or repeated."""
    for text in texts_seen(page, message):
        assert final.startswith(text), f"message {message} showed {text!r}, which is not how {final!r} begins"


def wait_streaming_text(page: Page, name: str, min_chars: int, timeout: float = REPLY_TIMEOUT) -> Locator:
    """The bubble of ``name`` that is streaming, once it shows at least ``min_chars`` characters."""
    bubble = page.locator(f"#messages article.msg-{ROLE[name]}.is-streaming").last
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        if bubble.count() and len(body_of(bubble).text_content() or "") >= min_chars:
            return bubble
        page.wait_for_timeout(25)
    raise AssertionError(f"{name} never streamed {min_chars} characters")


def article_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("#messages > article", "els => els.map(e => e.id)")


def texts(page: Page) -> dict[str, str]:
    """Every bubble's visible text, by element id."""
    return page.eval_on_selector_all(
        "#messages > article", "els => Object.fromEntries(els.map(e => [e.id, e.innerText]))"
    )


# ---- phases, the brief and generations (templates/core/_phase_indicator.html, templates/generations/) ----
def notices(page: Page) -> Locator:
    return page.locator("#messages article.msg-notice")


def skip_to_review(page: Page) -> Locator:
    """The artist skips ahead with "Next phase ›" until Pixel's brief is drafted and Lens has looked at it."""
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    expect(current_phase(page)).to_have_text("Refinement")
    page.locator("#phase-indicator").get_by_role("button", name="Next phase ›").click()
    return wait_reviewed_brief(page)


def wait_reviewed_brief(page: Page) -> Locator:
    """Pixel's brief card, once the studio is in Review and Lens has finished commenting on it."""
    card = page.locator("#messages article.msg-technical.msg-brief form.brief-card").last
    expect(card).to_be_visible(timeout=60_000)
    expect(current_phase(page)).to_have_text("Review", timeout=30_000)
    expect(page.locator("#messages article.msg-brief ~ article.msg-critic.is-complete")).to_have_count(
        1, timeout=REPLY_TIMEOUT
    )
    return card


def generation_cards(page: Page) -> Locator:
    return page.locator("#messages .generation-card")


def generate(page: Page, **fields) -> Locator:
    """Edit fields of the latest brief card (name=value), press Generate, return the new generation card."""
    before = generation_cards(page).count()
    card = page.locator("#messages form.brief-card").last
    for name, value in fields.items():
        field = card.locator(f'[name="{name}"]').first
        if not field.is_visible():  # the raw numbers are folded under the presets
            card.locator("details.brief-numbers > summary").click()
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))
    card.get_by_role("button", name="Generate").click()
    expect(generation_cards(page)).to_have_count(before + 1)
    return page.locator(f"#{generation_cards(page).nth(before).get_attribute('id')}")


FINISHED = ("complete", "failed", "cancelled")


def wait_generation(card: Locator, status: str = "complete", timeout: float = 60_000) -> None:
    """Wait until the card reaches ``status``; a generation that ends otherwise fails at once, saying why."""
    wait_for_js(
        card.page,
        """([id, wanted, finished]) => {
             const status = document.getElementById(id)?.dataset.status;
             return status === wanted || finished.includes(status);
           }""",
        [card.get_attribute("id"), status, list(FINISHED)],
        timeout=timeout,
    )
    actual = card.get_attribute("data-status")
    assert actual == status, f"the generation ended {actual}, not {status}: {card.inner_text()}"


def seed_of(card: Locator) -> int:
    return int(re.search(r"seed (\d+)", card.locator("header").inner_text()).group(1))


def progress_seen(page: Page, card: Locator) -> list[str]:
    return page.evaluate(f"window.__progress['{card.get_attribute('id')}'] || []")


def previews_seen(page: Page, card: Locator) -> list[str]:
    return page.evaluate(f"window.__previews['{card.get_attribute('id')}'] || []")


def wait_image_loaded(page: Page, image: Locator) -> dict:
    """Wait until the browser has decoded the image; returns its natural size."""
    handle = image.element_handle()
    wait_for_js(page, "img => img.complete && img.naturalWidth > 0", handle)
    return handle.evaluate("img => ({width: img.naturalWidth, height: img.naturalHeight})")
