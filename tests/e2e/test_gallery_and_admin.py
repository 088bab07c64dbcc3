"""The gallery and its viewer, and the admin where an operator looks over sessions and generations."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import fresh_engines
from tests.e2e.studio_page import (
    generate,
    skip_to_review,
    start_session,
    wait_connected,
    wait_generation,
    wait_image_loaded,
)

pytestmark = pytest.mark.e2e

TITLE = "Gallery: owls in a library"
PROMPT = "two owls reading by candlelight in an old library, etching"


@pytest.fixture(scope="module")
def finished(browser, studio):
    """A session with two finished images, made through the studio like a person would."""
    fresh_engines(studio)
    context = browser.new_context(base_url=studio.base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        session = start_session(page, "Owls who run a library at night", title=TITLE)
        skip_to_review(page)
        first = generate(page, positive_prompt=PROMPT, steps=12, width=1024, height=768, seed=424242)
        wait_generation(first)
        second = generate(page, positive_prompt=PROMPT, steps=12, width=1024, height=768, seed=7)
        wait_generation(second)
        yield {
            "session": session,
            "generation": int(first.get_attribute("id").removeprefix("generation-")),
            "second": int(second.get_attribute("id").removeprefix("generation-")),
        }
    finally:
        context.close()


def test_the_gallery_and_its_viewer_show_filter_favour_delete_and_reuse_the_pictures(page, finished, shot):
    page.goto(f"/sessions/{finished['session']}/")
    page.locator(".topbar").get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("heading", name=re.compile("Gallery"))).to_contain_text(TITLE)
    tiles = page.locator(".gallery-tile")
    expect(tiles).to_have_count(2)
    expect(page.locator('select[name="session"]')).to_have_value(str(finished["session"]))
    page.set_viewport_size({"width": 1440, "height": 900})
    shot(page, "gallery")

    # The newest first; the viewer shows it large with its parameters beside it.
    tiles.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Image #{finished['second']}")
    params = page.locator(".viewer-params")
    for text in (PROMPT, "sd_xl_base_1.0.safetensors", "1024×768", "12 · ", "7"):
        expect(params).to_contain_text(text)
    assert wait_image_loaded(page, page.locator(".viewer-media img")) == {"width": 1024, "height": 768}
    shot(page, "viewer")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "viewer-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    # The arrow keys go to the older picture and back.
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Image #{finished['generation']}")
    expect(page.locator(".viewer-params")).to_contain_text("424242")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Image #{finished['second']}")
    page.keyboard.press("ArrowRight")

    # A favourite, then the gallery filtered to favourites.
    star = page.get_by_role("button", name=re.compile("Favourite"))
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(page.get_by_role("button", name=re.compile("Favourite"))).to_have_attribute("aria-pressed", "true")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    assert info.value.suggested_filename.endswith(".png")
    page.get_by_role("link", name="Back to the gallery").click()
    page.get_by_label("Favourites only").check()
    page.get_by_role("button", name="Show").click()
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_have_class(re.compile(r"\bis-favourite\b"))

    # Delete the other one (asked first); the generation and its parameters stay in the chat.
    page.goto(f"/gallery/?session={finished['session']}")
    tiles.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Image #{finished['second']}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("Deleted.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Image #{finished['generation']}")
    page.get_by_role("link", name="Back to the gallery").click()
    expect(tiles).to_have_count(1)

    # "Use as input": a new picture from this one, in its session's chat.
    tiles.first.get_by_role("link").click()
    page.get_by_role("button", name="Use as input").click()
    page.wait_for_url(re.compile(rf"/sessions/{finished['session']}/$"))
    wait_connected(page)
    cards = page.locator("#messages .generation-card")
    expect(cards).to_have_count(3)
    wait_generation(cards.last)
    expect(cards.last).to_contain_text("1024×768")


def test_the_local_user_opens_the_admin_and_filters_sessions_and_generations(browser, studio, finished, shot):
    context = browser.new_context(base_url=studio.base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto("/admin/")
        # On a loopback install the local user owns everything, the admin included: no sign-in.
        expect(page.locator("#site-name")).to_be_visible()
        expect(page.locator("#user-tools")).to_contain_text("local")
        expect(page.get_by_role("link", name="Sessions", exact=True)).to_be_visible()

        page.get_by_role("link", name="Sessions", exact=True).click()
        expect(page.locator("#result_list")).to_contain_text(TITLE)
        page.locator("#searchbar").fill(TITLE)
        page.locator("#searchbar").press("Enter")
        expect(page).to_have_url(re.compile(r"\?q="))
        expect(page.locator("#result_list")).to_contain_text(TITLE)
        shot(page, "sessions")

        page.goto("/admin/generations/generation/")
        expect(page.locator("#changelist-filter")).to_contain_text("By status")
        page.locator('#changelist-filter details[data-filter-title="status"]').get_by_role(
            "link", name="Complete"
        ).click()
        expect(page).to_have_url(re.compile(r"status__exact=complete"))
        rows = page.locator("#result_list tbody tr")
        expect(rows.first).to_be_visible()
        for status in rows.locator("td.field-status").all_inner_texts():
            assert status == "Complete"
        expect(page.locator("#result_list")).to_contain_text(TITLE)
        shot(page, "generations")

        page.get_by_role("link", name=str(finished["generation"]), exact=True).click()
        expect(page.locator("body")).to_contain_text(PROMPT)
    finally:
        context.close()


def test_the_engines_page_shows_what_check_engines_reports_and_looks_again_by_itself(page, shot):
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/")
    page.get_by_role("link", name="Engines").click()
    expect(page.locator(".engines-verdict")).to_have_text(re.compile("^(Ready|Not ready)"))
    expect(page.locator("#engines h2", has_text="ComfyUI at")).to_contain_text("up")
    expect(page.locator("#engines .family-report li", has_text="SDXL")).to_contain_text("ready")
    shot(page, "engines", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "engines-phone")
    # The section is fetched again while the page stays open.
    with page.expect_response(lambda response: response.url.endswith("/engines/"), timeout=30_000) as refreshed:
        pass
    assert refreshed.value.status == 200
    expect(page.locator(".engines-verdict")).to_be_visible()
