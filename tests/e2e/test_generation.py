"""From an idea through every phase to images and a video, rendered live in the chat."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.studio_page import (
    IDEATION_SPEAKERS,
    current_phase,
    generate,
    generation_cards,
    notices,
    previews_seen,
    progress_seen,
    seed_of,
    send,
    skip_to_review,
    start_session,
    wait_complete,
    wait_for_js,
    wait_generation,
    wait_image_loaded,
    wait_reviewed_brief,
)

pytestmark = pytest.mark.e2e

PROMPT = "a red lighthouse at dusk, oil painting, warm rim light, storm clouds"


def test_the_team_takes_an_idea_through_every_phase_to_an_image_and_a_variation(page, shot):
    start_session(page, "A lighthouse that is afraid of the dark")
    for name in IDEATION_SPEAKERS:
        wait_complete(page, name, 1)
    send(page, "I love it. Make the lighthouse red.")

    # Round two of ideation, then the studio moves on by itself.
    expect(current_phase(page)).to_have_text("Refinement", timeout=30_000)
    expect(notices(page).filter(has_text="Refinement — the team converges")).to_have_count(1)
    for name in ("Luna", "Frame", "Saga", "Lens"):
        wait_complete(page, name, 3 if name in IDEATION_SPEAKERS else 1)
    expect(notices(page).filter(has_text="Synthesis — Pixel drafts the generation brief")).to_have_count(1)
    brief = wait_reviewed_brief(page)
    expect(notices(page).filter(has_text="Review — Lens checks the brief")).to_have_count(1)
    for done in ("Ideation", "Refinement", "Synthesis"):
        expect(page.locator("#phase-indicator li.phase.done", has_text=done)).to_have_count(1)
    expect(brief.locator('[name="positive_prompt"]')).not_to_have_value("")
    expect(brief.locator('[name="checkpoint"]')).to_have_value("sd_xl_base_1.0.safetensors")
    expect(brief.locator('[name="media_kind"]')).to_have_value("image")
    brief.scroll_into_view_if_needed()
    shot(page, "brief")

    card = generate(page, positive_prompt=PROMPT, steps=20)
    expect(current_phase(page)).to_have_text("Generating")
    expect(card.locator(".progress-text")).to_contain_text(re.compile(r"Step \d+/20"), timeout=30_000)
    shot(page, "progress")
    wait_generation(card)

    steps = [int(m.group(1)) for line in progress_seen(page, card) if (m := re.search(r"Step (\d+)/20", line))]
    assert len(set(steps)) >= 3 and steps == sorted(steps), f"the progress bar did not move: {steps}"
    assert previews_seen(page, card), "no live preview frame was shown while sampling"
    image = card.locator(".outputs img")
    expect(image).to_have_count(1)
    assert wait_image_loaded(page, image) == {"width": 1024, "height": 1024}
    card.locator("details.params summary").click()
    expect(card.locator("details.params")).to_contain_text(PROMPT)
    expect(card.locator(".status")).to_have_text("Complete")
    expect(current_phase(page)).to_have_text("Complete")
    # Lens looks at the result once it is in.
    expect(notices(page).filter(has_text="is ready — Lens is taking a look")).to_have_count(1)
    wait_complete(page, "Lens", 3)
    card.scroll_into_view_if_needed()
    shot(page, "image")

    card.get_by_role("button", name="Variation").click()
    expect(generation_cards(page)).to_have_count(2)
    variation = generation_cards(page).nth(1)
    wait_generation(variation)
    assert seed_of(variation) != seed_of(card)
    assert wait_image_loaded(page, variation.locator(".outputs img")) == {"width": 1024, "height": 1024}
    variation.locator("details.params summary").click()
    expect(variation.locator("details.params")).to_contain_text(PROMPT)
    variation.scroll_into_view_if_needed()
    shot(page, "variation")


def test_a_video_brief_plays_in_the_chat(page, shot):
    start_session(page, "Jellyfish drifting through a night city")
    skip_to_review(page)
    card = generate(page, media_kind="video", steps=10, width=512, height=512)
    expect(card.locator("header")).to_contain_text("Video #")
    wait_generation(card)

    video = card.locator(".outputs video")
    expect(video).to_have_count(1)
    handle = video.element_handle()
    wait_for_js(page, "v => v.readyState >= 1 && v.duration > 0", handle)
    handle.evaluate("v => v.play()")
    wait_for_js(page, "v => v.currentTime > 0", handle, timeout=10_000)
    card.scroll_into_view_if_needed()
    shot(page, "video")


def test_a_long_generation_can_be_cancelled_and_the_brief_stays(page, shot):
    start_session(page, "A snail racing a glacier")
    skip_to_review(page)
    card = generate(page, steps=150)
    expect(card.locator(".progress-text")).to_contain_text("/150", timeout=30_000)
    card.get_by_role("button", name="Cancel").click()

    wait_generation(card, "cancelled", timeout=20_000)
    expect(card.locator(".status")).to_have_text("Cancelled")
    expect(card).to_contain_text("Cancelled.")
    expect(card.locator(".outputs")).to_have_count(0)
    expect(notices(page).filter(has_text="was cancelled")).to_have_count(1)
    expect(current_phase(page)).to_have_text("Review")
    expect(page.locator("#messages form.brief-card").last.get_by_role("button", name="Generate")).to_be_enabled()
    shot(page, "cancelled")


def test_the_brief_card_offers_the_installed_familys_presets_and_draws_with_them(page, shot):
    start_session(page, "A fox in the snow at dawn")
    brief = skip_to_review(page)
    # Presets first, as an artist chooses: the SDXL family's aspects at its trained sizes, styles, LoRAs.
    aspect = brief.locator('[name="aspect"]')
    expect(aspect.locator("option")).to_have_text(
        ["Square · 1024×1024", "Portrait · 832×1216", "Landscape · 1216×832", "Wide · 1344×768", re.compile("Custom")]
    )
    expect(brief.locator(".family")).to_have_text("SDXL (and Pony, Illustrious)")
    expect(brief.locator('[name="style"] option', has_text="Watercolour")).to_have_count(1)
    expect(brief.locator('[name="lora"]').first.locator("option")).to_have_text(
        ["None", "ink_style_xl.safetensors", "detail_tweaker_xl.safetensors"]
    )
    numbers = brief.locator("details.brief-numbers")
    expect(numbers.locator('[name="width"]')).to_be_hidden()  # folded until asked for
    expect(numbers.locator("summary")).to_contain_text(re.compile(r"\d+×\d+ · \d+ steps"))
    brief.scroll_into_view_if_needed()
    shot(page, "presets")

    # Choosing an aspect shows its size in the numbers; typing a size makes it a custom one.
    aspect.select_option("portrait")
    numbers.locator("summary").click()
    expect(numbers.locator('[name="width"]')).to_have_value("832")
    expect(numbers.locator('[name="height"]')).to_have_value("1216")
    # Frames and FPS are a video's: shown only for a video brief.
    expect(numbers.locator('[name="frames"]')).to_be_hidden()
    brief.locator('[name="media_kind"]').select_option("video")
    expect(numbers.locator('[name="frames"]')).to_be_visible()
    brief.locator('[name="media_kind"]').select_option("image")
    expect(numbers.locator('[name="fps"]')).to_be_hidden()
    numbers.locator('[name="width"]').fill("1000")
    expect(aspect).to_have_value("custom")
    aspect.select_option("portrait")
    brief.scroll_into_view_if_needed()
    shot(page, "numbers-open")

    page.set_viewport_size({"width": 390, "height": 844})
    brief.scroll_into_view_if_needed()
    shot(page, "presets-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    card = generate(page, style="watercolor", lora="ink_style_xl.safetensors", lora_strength="0.7")
    wait_generation(card)
    expect(card).to_contain_text("832×1216")
    shot(page, "drawn")


def test_the_seed_is_kept_rolled_or_new_each_time_and_one_generate_makes_several_pictures(page, shot):
    start_session(page, "Paper boats on a flooded street")
    brief = skip_to_review(page)
    seed = brief.locator('[name="seed"]')
    expect(seed).to_be_visible()  # beside Generate, not folded with the numbers
    seed.fill("1234")
    brief.get_by_role("button", name="Roll a random seed").click()
    expect(seed).not_to_have_value("1234")
    rolled = int(seed.input_value())
    assert 0 <= rolled < 2**32
    brief.locator('[name="aspect"]').select_option("landscape")  # SDXL's 1216×832
    brief.locator('[name="count"]').fill("4")
    brief.scroll_into_view_if_needed()
    shot(page, "seed-and-count")
    brief.get_by_role("button", name="Generate").click()
    expect(generation_cards(page)).to_have_count(4)
    cards = [generation_cards(page).nth(i) for i in range(4)]
    # Each preview is framed in the picture's shape, whatever size ComfyUI's preview frames are.
    frame = cards[3].locator(".preview-frame canvas")  # the last waits behind the others
    expect(frame).to_be_visible()
    box = frame.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 1216 / 832) < 0.02, box
    for card in cards:
        wait_generation(card)
    assert sorted(seed_of(card) for card in cards) == [rolled + n for n in range(4)]
    # One server runs two jobs at once here: the last ones waited, and said their place in line.
    waited = [line for card in cards[2:] for line in progress_seen(page, card)]
    assert any(re.search(r"\b[34](rd|th) in line", line) for line in waited), waited
    shot(page, "four-pictures")

    # A new seed each time: the card's seed is left alone and each picture gets its own.
    brief = page.locator("#messages form.brief-card").last
    brief.locator('[name="count"]').fill("1")
    brief.get_by_label("New seed each time").check()
    brief.get_by_role("button", name="Generate").click()
    expect(generation_cards(page)).to_have_count(5)
    fifth = generation_cards(page).nth(4)
    wait_generation(fifth)
    assert seed_of(fifth) not in [rolled + n for n in range(4)]
