"""The session's gallery, and the admin where an operator looks over sessions and generations."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import fresh_engines
from tests.e2e.studio_page import generate, skip_to_review, start_session, wait_generation, wait_image_loaded

pytestmark = pytest.mark.e2e

TITLE = "Gallery: owls in a library"
PROMPT = "two owls reading by candlelight in an old library, etching"


@pytest.fixture(scope="module")
def finished(browser, studio):
    """A session with one finished image, made through the studio like a person would."""
    fresh_engines(studio)
    context = browser.new_context(base_url=studio.base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        session = start_session(page, "Owls who run a library at night", title=TITLE)
        skip_to_review(page)
        card = generate(page, positive_prompt=PROMPT, steps=12, width=1024, height=768, seed=424242)
        wait_generation(card)
        yield {"session": session, "generation": int(card.get_attribute("id").removeprefix("generation-"))}
    finally:
        context.close()


def test_the_gallery_shows_each_output_with_its_prompt_parameters_and_seed(page, finished, shot):
    page.goto(f"/sessions/{finished['session']}/")
    page.locator(".topbar").get_by_role("link", name="Gallery").click()
    expect(page.get_by_role("heading", name=re.compile("Gallery"))).to_contain_text(TITLE)

    item = page.locator(f"#gallery-{finished['generation']}")
    expect(item).to_be_visible()
    expect(item.locator(".prompt")).to_have_text(PROMPT)
    params = item.locator(".muted.small")
    expect(params).to_contain_text("sd_xl_base_1.0.safetensors")
    expect(params).to_contain_text("1024×768")
    expect(params).to_contain_text("12 steps")
    expect(params).to_contain_text("seed 424242")
    assert wait_image_loaded(page, item.locator("img")) == {"width": 1024, "height": 768}
    download = item.get_by_role("link", name="Download")
    with page.expect_download() as info:
        download.click()
    assert info.value.suggested_filename.endswith(".png")
    shot(page, "gallery", full_page=True)


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
