"""Pixel's brief made usable: about the artist's idea, in its own words."""

import pytest

from generations.services.catalog import Catalog
from specialists.services.brief_draft import keeps_the_idea, usable_brief

CATALOG = Catalog(
    available=True,
    checkpoints=["sd_xl_base_1.0.safetensors"],
    samplers=["euler"],
    schedulers=["normal"],
    node_types={"KSampler"},
)
IDEA = "a red fox asleep under an old lighthouse in the snow"


@pytest.mark.parametrize(
    ("prompt", "led"),
    [
        ("a red fox curled asleep beneath an old lighthouse, snow falling, dusk", False),
        ("foxes asleep by lighthouses, deep snow", False),  # plurals are the same words
        ("a fox at dusk, cinematic", True),  # one of six of the idea's words: its setting is lost
        ("cinematic, moody, film grain", True),
    ],
)
def test_a_prompt_keeps_the_idea_when_it_keeps_at_least_half_of_its_words(prompt, led):
    brief, notes = usable_brief({"positive_prompt": prompt}, CATALOG, IDEA)
    assert brief["positive_prompt"].startswith(IDEA) is led
    assert any("your own words lead it" in n for n in notes) is led
    assert keeps_the_idea(brief["positive_prompt"], IDEA)


def test_an_idea_of_only_small_words_asks_nothing_of_the_prompt():
    assert keeps_the_idea("anything at all", "make it the one")


def test_no_prompt_at_all_starts_from_the_idea_and_nothing_gives_a_clear_error():
    brief, notes = usable_brief("Sure! I will think about it.", CATALOG, IDEA)
    assert brief["positive_prompt"] == IDEA and "starts from your own words" in notes[0]
    from generations.services.brief import BriefError

    with pytest.raises(BriefError, match="no positive prompt"):
        usable_brief("", CATALOG, "")


def test_pixels_summary_opens_the_brief_and_stays_out_of_the_render():
    import json

    from specialists.services.brief_draft import BRIEF_INVITATION, brief_words

    raw = json.dumps({"summary": "  The team chose a red fox\n under amber light. ", "positive_prompt": IDEA})
    assert brief_words(raw) == f"The team chose a red fox under amber light.\n\n{BRIEF_INVITATION}"
    brief, _ = usable_brief(raw, CATALOG, IDEA)
    assert "summary" not in brief


@pytest.mark.parametrize("raw", ["prose, no JSON", '{"positive_prompt": "x"}', '{"summary": 12}', '{"summary": "   "}'])
def test_without_a_summary_the_brief_says_so_plainly(raw):
    from specialists.services.brief_draft import BRIEF_INVITATION, brief_words

    assert brief_words(raw) == f"Here is the brief. {BRIEF_INVITATION}"


def test_a_long_summary_is_cut_at_a_sentence():
    import json

    from specialists.services.brief_draft import summary_of

    long = "The fox sleeps. " * 30
    summary = summary_of(json.dumps({"summary": long}))
    assert len(summary) <= 240 and summary.endswith("The fox sleeps.")
