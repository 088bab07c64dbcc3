import json

import pytest

from generations.services.brief import BriefError, brief_schema, normalize_brief
from generations.services.catalog import Catalog

CATALOG = Catalog(
    available=True,
    checkpoints=["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"],
    samplers=["euler", "dpmpp_2m"],
    schedulers=["normal", "karras"],
    node_types={"KSampler"},
)


def test_the_schema_only_offers_what_the_server_has():
    schema = brief_schema(CATALOG)
    assert schema["properties"]["checkpoint"]["enum"] == CATALOG.checkpoints
    assert schema["properties"]["sampler"]["enum"] == ["euler", "dpmpp_2m"]
    assert "positive_prompt" in schema["required"]


def test_a_valid_brief_passes_through():
    raw = {
        "positive_prompt": "a fox in snow, golden hour",
        "negative_prompt": "blurry",
        "checkpoint": "v1-5-pruned-emaonly.safetensors",
        "width": 768,
        "height": 512,
        "steps": 30,
        "cfg": 6.5,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "seed": 42,
        "media_kind": "image",
    }
    brief, warnings = normalize_brief(json.dumps(raw), CATALOG)
    assert brief == raw
    assert warnings == []


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("width", 1000, 1000),
        ("width", 1001, 1000),
        ("width", 5000, 2048),
        ("height", 10, 64),
        ("steps", 0, 1),
        ("steps", 999, 150),
        ("cfg", 0.1, 1.0),
        ("cfg", 99, 30.0),
    ],
)
def test_out_of_range_values_are_clamped_with_a_warning(field, value, expected):
    brief, warnings = normalize_brief({"positive_prompt": "a fox", field: value}, CATALOG)
    assert brief[field] == expected
    assert brief["width"] % 8 == 0 and brief["height"] % 8 == 0
    if value != expected:
        assert warnings


def test_unknown_checkpoint_sampler_and_scheduler_fall_back_to_installed_ones():
    raw = {"positive_prompt": "a fox", "checkpoint": "missing.ckpt", "sampler": "magic", "scheduler": "weird"}
    brief, warnings = normalize_brief(raw, CATALOG)
    assert brief["checkpoint"] in CATALOG.checkpoints
    assert brief["sampler"] == "euler" and brief["scheduler"] == "normal"
    assert any("missing.ckpt" in w for w in warnings)


def test_json_inside_prose_is_found():
    text = 'Sure! Here it is:\n```json\n{"positive_prompt": "a heron at dawn", "steps": 20}\n```\nEnjoy.'
    brief, _ = normalize_brief(text, CATALOG)
    assert brief["positive_prompt"] == "a heron at dawn" and brief["steps"] == 20


def test_key_value_text_is_a_fallback():
    text = "Prompt: a lighthouse at dusk\nNegative prompt: people\nSteps: 40\nSize: 768x512"
    brief, _ = normalize_brief(text, CATALOG)
    assert brief["positive_prompt"] == "a lighthouse at dusk"
    assert brief["negative_prompt"] == "people"
    assert (brief["steps"], brief["width"], brief["height"]) == (40, 768, 512)


@pytest.mark.parametrize("raw", ["", "no brief here at all", {"negative_prompt": "x"}, "[1, 2]", 42])
def test_nothing_usable_is_a_clear_error(raw):
    with pytest.raises(BriefError, match="no positive prompt|neither JSON nor text"):
        normalize_brief(raw, CATALOG)


def test_hostile_values_do_not_break_it():
    raw = {"positive_prompt": "x" * 100000, "width": "NaN", "steps": "1e999", "seed": -5, "cfg": [1]}
    brief, warnings = normalize_brief(raw, CATALOG)
    assert len(brief["positive_prompt"]) == 4000
    assert brief["width"] == 1024 and 1 <= brief["steps"] <= 150 and 0 <= brief["seed"]
    assert warnings


def test_a_missing_seed_gets_a_random_one():
    seeds = {normalize_brief({"positive_prompt": "a fox"}, CATALOG)[0]["seed"] for _ in range(5)}
    assert len(seeds) > 1


def test_video_briefs_carry_frames_and_fps():
    brief, _ = normalize_brief({"positive_prompt": "waves", "media_kind": "video", "frames": 500}, CATALOG)
    assert brief["media_kind"] == "video" and brief["frames"] == 120 and brief["fps"] == 8


def test_the_schema_asks_for_frames_and_fps_and_offers_no_video_model_for_the_picture():
    catalog = Catalog(
        available=True,
        checkpoints=["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"],
        samplers=["euler"],
        schedulers=["normal"],
        node_types=set(),
    )
    schema = brief_schema(catalog)
    assert schema["properties"]["checkpoint"]["enum"] == ["sd_xl_base_1.0.safetensors"]
    assert schema["properties"]["frames"]["type"] == "integer" and schema["properties"]["fps"]["type"] == "integer"
    assert schema["properties"]["media_kind"]["enum"] == ["image", "video"]


def test_a_video_model_is_never_picked_to_draw_the_picture():
    catalog = Catalog(
        available=True,
        checkpoints=["svd_xt.safetensors", "v1-5-pruned-emaonly.safetensors"],
        samplers=["euler"],
        schedulers=["normal"],
        node_types=set(),
    )
    assert normalize_brief({"positive_prompt": "a fox"}, catalog)[0]["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "checkpoint": "svd_xt.safetensors"}, catalog)
    assert brief["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    assert any("svd_xt.safetensors is a video model" in w for w in warnings)


@pytest.mark.parametrize("seed", [2**63 - 1, 123456789012345678, "9007199254740993"])
def test_large_seeds_are_kept_exactly(seed):
    assert normalize_brief({"positive_prompt": "a fox", "seed": seed}, CATALOG)[0]["seed"] == int(seed)


def test_absurd_numbers_are_clamped_not_crashed_on():
    raw = {"positive_prompt": "a fox", "width": 10**400, "height": -(10**400), "steps": 10**500, "cfg": 10**400}
    brief, warnings = normalize_brief(raw, CATALOG)
    assert (brief["width"], brief["height"], brief["steps"]) == (2048, 64, 150)
    assert 1 <= brief["cfg"] <= 30
    assert all(len(w) < 200 for w in warnings)


def test_a_json_brief_wins_over_key_value_lines_in_the_same_text():
    text = 'steps: 99\n{"positive_prompt": "a heron", "steps": 12}'
    assert normalize_brief(text, CATALOG)[0]["steps"] == 12


@pytest.mark.parametrize("name", ["steps", "cfg", "frames", "fps"])
def test_every_bound_of_the_brief_spec_clamps_at_both_edges(name):
    from generations.services.brief_spec import LIMITS

    bound = LIMITS[name]
    edges = ((bound.lo - 1, bound.lo), (bound.lo, bound.lo), (bound.hi, bound.hi), (bound.hi + 1, bound.hi))
    for given, expected in edges:
        brief, _ = normalize_brief(
            {"positive_prompt": "a fox", "media_kind": "video", name: given}, CATALOG
        )
        assert brief[name] == expected, (name, given)


@pytest.mark.parametrize("name", ["width", "height"])
def test_sizes_clamp_at_both_edges_of_the_spec(name):
    from generations.services.brief_spec import LIMITS

    bound = LIMITS[name]
    edges = ((bound.lo - 8, bound.lo), (bound.hi + 8, bound.hi), (bound.lo, bound.lo), (bound.hi, bound.hi))
    for given, expected in edges:
        brief, _ = normalize_brief({"positive_prompt": "a fox", name: given}, CATALOG)
        assert brief[name] == expected, (name, given)


@pytest.mark.parametrize(
    ("cut", "kept"),
    [
        ('{"positive_prompt": "a fox in snow, soft light", "negative_prompt": "blur", "steps": 3', {"steps": 30}),
        ('{"positive_prompt": "a fox in snow, soft light", "negative_prompt": "blu', {"negative_prompt": "blu"}),
        ('{"positive_prompt": "a fox in snow, soft light", "negative_prompt": "blur", "sampler":', {}),
        ('{"positive_prompt": "a fox in snow, soft light", "negative_prompt": "bl\\"ur", "negat', {}),
        ('Here you go: {"positive_prompt": "a fox in snow, soft light", "width": 768, "height"', {"width": 768}),
    ],
)
def test_a_brief_the_engine_cut_at_its_token_limit_keeps_what_was_written(cut, kept):
    brief, _ = normalize_brief(cut, CATALOG, defaults={"steps": 30})
    assert brief["positive_prompt"].startswith("a fox in snow")
    for field, value in kept.items():
        assert brief[field] == value
    if '"steps": 3' in cut:
        assert brief["steps"] == 30, "a number cut short must not be taken (30 lost a digit)"


def test_a_brief_cut_inside_its_prompt_keeps_the_words_it_has():
    brief, _ = normalize_brief('{"positive_prompt": "a fox in sn', CATALOG)
    assert brief["positive_prompt"] == "a fox in sn"


@pytest.mark.parametrize("max_tokens", [120, 400, 800, 4000])
def test_the_schema_asks_for_prompts_that_leave_the_brief_room_in_the_token_budget(max_tokens):
    props = brief_schema(CATALOG, max_tokens=max_tokens)["properties"]
    prompts = props["positive_prompt"]["maxLength"] + props["negative_prompt"]["maxLength"]
    assert prompts <= max(max_tokens * 3 - 400, 160)
    assert props["positive_prompt"]["maxLength"] >= 120 and props["negative_prompt"]["maxLength"] >= 40
    assert props["positive_prompt"]["maxLength"] > props["negative_prompt"]["maxLength"]
