import json

import pytest

from generations.services.brief import BriefError, brief_schema, normalize_brief, parse, prompt_limits
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
        "aspect": "landscape",
        "style": "cinematic",
        "loras": [],
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
        brief, _ = normalize_brief({"positive_prompt": "a fox", "media_kind": "video", name: given}, CATALOG)
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


# ---- the schema Pixel fills in: every bound at its edges --------------------------------------------------------
MISSING = object()
ASKED = {
    "positive_prompt": "a fox in snow",
    "negative_prompt": "",
    "checkpoint": "sd_xl_base_1.0.safetensors",
    "width": 1024,
    "height": 768,
    "steps": 25,
    "cfg": 7.0,
    "sampler": "euler",
    "scheduler": "normal",
    "seed": 0,
    "media_kind": "image",
    "frames": 14,
    "fps": 8,
    "aspect": "landscape",
    "style": "none",
}
BARE = Catalog(available=False, checkpoints=[], samplers=[], schedulers=[], node_types=set())


def refused(schema: dict, **changes) -> bool:
    from jsonschema import Draft202012Validator

    brief = {key: value for key, value in {**ASKED, **changes}.items() if value is not MISSING}
    return any(Draft202012Validator(schema).iter_errors(brief))


def test_the_schema_takes_each_number_at_its_edges_and_refuses_one_step_past_them():
    from generations.services.brief_spec import ASK_MAX_SEED, ASK_SIZE_MULTIPLE, LIMITS

    for catalog in (CATALOG, BARE):
        schema = brief_schema(catalog)
        assert not refused(schema)
        for name in ("steps", "cfg", "frames", "fps"):
            low, high = LIMITS[name].ask
            assert not refused(schema, **{name: low}) and not refused(schema, **{name: high}), name
            assert refused(schema, **{name: low - 1}) and refused(schema, **{name: high + 1}), name
        assert refused(schema, steps=25.5) and not refused(schema, cfg=6.5)  # steps are whole, cfg need not be
        assert not refused(schema, seed=ASK_MAX_SEED) and refused(schema, seed=ASK_MAX_SEED + 1)
        assert refused(schema, seed=-1) and refused(schema, seed="42")
    # No model to know a family by: any multiple of 64 within the asked range.
    schema = brief_schema(BARE)
    for name in ("width", "height"):
        low, high = LIMITS[name].ask
        assert not refused(schema, **{name: low}) and not refused(schema, **{name: high}), name
        assert refused(schema, **{name: low - 64}) and refused(schema, **{name: high + 64}), name
    assert refused(schema, width=1024 + 8) and refused(schema, height=768 + 8)  # not a multiple of ASK_SIZE_MULTIPLE
    assert ASK_SIZE_MULTIPLE == 64


def test_the_schema_offers_the_trained_sizes_of_the_chosen_models_family():
    sdxl = brief_schema(CATALOG)["properties"]
    assert sdxl["width"]["enum"] == [832, 1024, 1216, 1344] and sdxl["height"]["enum"] == [768, 832, 1024, 1216]
    sd15 = brief_schema(CATALOG, model="v1-5-pruned-emaonly.safetensors")
    assert sd15["properties"]["width"]["enum"] == [512, 768, 896]
    assert refused(sd15, width=1024) and not refused(sd15, width=768, height=512)
    # A model the server does not have is no guide: the first installed one is.
    assert brief_schema(CATALOG, model="gone.safetensors")["properties"]["width"] == sdxl["width"]
    assert sdxl["aspect"]["enum"] == ["square", "portrait", "landscape", "wide"]


def test_the_schema_offers_style_presets_and_only_installed_loras_with_a_strength():
    from generations.services.brief_spec import LIMITS
    from generations.workflows.styles import STYLES

    schema = brief_schema(CATALOG)
    assert "loras" not in schema["properties"]  # the server lists none
    assert schema["properties"]["style"]["enum"] == ["none", *STYLES]
    assert refused(schema, style="vaporwave") and not refused(schema, style="watercolor")
    with_loras = Catalog(**{**CATALOG.__dict__, "choices": {("LoraLoader", "lora_name"): ["ink.safetensors"]}})
    schema = brief_schema(with_loras)
    low, high = LIMITS["lora_strength"].ask
    assert not refused(schema, loras=[{"name": "ink.safetensors", "strength": low}])
    assert not refused(schema, loras=[{"name": "ink.safetensors", "strength": high}])
    assert refused(schema, loras=[{"name": "ink.safetensors", "strength": high + 0.01}])
    assert refused(schema, loras=[{"name": "ink.safetensors", "strength": low - 0.01}])
    assert refused(schema, loras=[{"name": "other.safetensors", "strength": 0.8}])
    assert refused(schema, loras=[{"name": "ink.safetensors"}])
    assert refused(schema, loras=[{"name": "ink.safetensors", "strength": 0.5}] * 4)  # more than MAX_LORAS


def test_the_schema_takes_only_named_choices_and_prompts_within_their_lengths():
    schema = brief_schema(CATALOG, max_tokens=600)
    positive, negative = prompt_limits(600)
    for field, value in [("checkpoint", "dreamshaper_8.safetensors"), ("sampler", "lms"), ("scheduler", "exp")]:
        assert refused(schema, **{field: value}), field
    assert not refused(schema, media_kind="video") and refused(schema, media_kind="gif")
    assert refused(schema, aspect="tall") and refused(schema, aspect="custom")
    assert refused(schema, positive_prompt="a fox in") and not refused(schema, positive_prompt="a fox in s")
    assert not refused(schema, positive_prompt="x" * positive) and refused(schema, positive_prompt="x" * (positive + 1))
    assert not refused(schema, negative_prompt="x" * negative) and refused(schema, negative_prompt="x" * (negative + 1))
    assert refused(schema, positive_prompt=42) and refused(schema, sampler=1)


def test_the_schema_requires_what_a_render_needs_and_nothing_more():
    schema = brief_schema(CATALOG)
    for field in ("positive_prompt", "negative_prompt", "aspect", "style", "steps", "cfg", "sampler", "scheduler"):
        assert refused(schema, **{field: MISSING}), field
    for field in ("checkpoint", "seed", "media_kind", "frames", "fps", "width", "height"):
        assert not refused(schema, **{field: MISSING}), field


def test_the_schema_leaves_a_choice_open_when_the_server_lists_nothing_and_never_offers_a_video_model_for_text():
    assert not refused(brief_schema(BARE), checkpoint="anything.safetensors", sampler="lms", scheduler="exp")
    with_video = Catalog(
        available=True,
        checkpoints=["svd_xt.safetensors", "sd_xl_base_1.0.safetensors"],
        samplers=["euler"],
        schedulers=["normal"],
        node_types={"KSampler"},
    )
    assert brief_schema(with_video)["properties"]["checkpoint"]["enum"] == ["sd_xl_base_1.0.safetensors"]
    only_video = Catalog(
        available=True, checkpoints=["svd_xt.safetensors"], samplers=[], schedulers=[], node_types=set()
    )
    assert brief_schema(only_video)["properties"]["checkpoint"]["enum"] == ["svd_xt.safetensors"]


@pytest.mark.parametrize(
    "max_tokens, expected",
    [
        (None, (1500, 600)),  # no budget named: the widest asked for
        (0, (1500, 600)),
        (600, (910, 490)),  # (600 tokens x 3 characters - 400 for the rest) split 65:35
        (1000, (1500, 600)),  # room for more than is ever asked for
        (100, (120, 40)),  # no room at all: still a prompt worth the name
        (140, (120, 40)),
    ],
)
def test_the_prompts_asked_for_fit_the_engines_token_budget(max_tokens, expected):
    assert prompt_limits(max_tokens) == expected


# ---- what normalising says and keeps, case by case ---------------------------------------------------------------
SIZE_RULE = "(a multiple of 8 between 64 and 2048)"


@pytest.mark.parametrize(
    "raw, kept, said",
    [
        (
            {"prompt": "  a fox\n in   snow ", "steps": "12.7", "cfg": "inf", "width": 1000, "height": "nan"},
            {"positive_prompt": "a fox in snow", "steps": 12, "cfg": 7.0, "width": 1000, "height": 1024},
            ["cfg adjusted to 7.0 (1–30).", "height was not a number; using 1024."],
        ),
        ({"cfg": "nan"}, {"cfg": 7.0}, ["cfg adjusted to 7.0 (1–30)."]),
        (
            {"cfg": "-inf", "steps": "many"},
            {"cfg": 7.0, "steps": 25},
            ["steps adjusted to 25 (1–150).", "cfg adjusted to 7.0 (1–30)."],
        ),
        (
            {"steps": 0, "cfg": 0.5},
            {"steps": 1, "cfg": 1.0},
            ["steps adjusted to 1 (1–150).", "cfg adjusted to 1.0 (1–30)."],
        ),
        ({"steps": 150, "cfg": 30}, {"steps": 150, "cfg": 30.0}, []),
        (
            {"width": 10**9, "height": 10**9 - 1},
            {"width": 2048, "height": 2048},
            [
                f"width (out of range) adjusted to 2048 {SIZE_RULE}.",
                f"height 999999999 adjusted to 2048 {SIZE_RULE}.",
            ],
        ),
        (
            {"width": -5, "height": 60},
            {"width": 64, "height": 64},
            [
                f"width -5 adjusted to 64 {SIZE_RULE}.",
                f"height 60 adjusted to 64 {SIZE_RULE}.",
            ],
        ),
        ({"width": "x"}, {"width": 1024}, ["width was not a number; using 1024."]),
        (
            {"sampler": "lms", "scheduler": "", "checkpoint": "dreamshaper_8.safetensors", "media_kind": "gif"},
            {
                "sampler": "euler",
                "scheduler": "normal",
                "checkpoint": "sd_xl_base_1.0.safetensors",
                "media_kind": "image",
            },
            [
                "checkpoint 'dreamshaper_8.safetensors' is not available on the ComfyUI server; "
                "using sd_xl_base_1.0.safetensors.",
                "sampler 'lms' is not available on the ComfyUI server; using euler.",
            ],
        ),
        (
            {"media_kind": "video", "frames": 0, "fps": 100},
            {"media_kind": "video", "frames": 1, "fps": 60},
            [],
        ),
        ({"media_kind": "video", "frames": "x", "fps": "y"}, {"frames": 14, "fps": 8}, []),
        ({"seed": "123456789012345678"}, {"seed": 123456789012345678}, []),
    ],
)
def test_normalising_keeps_what_it_can_and_says_what_it_changed(raw, kept, said):
    brief, warnings = normalize_brief({"positive_prompt": "a fox in snow", **raw}, CATALOG)
    assert {key: brief[key] for key in kept} == kept
    assert warnings == said
    assert ("frames" in brief) == (brief["media_kind"] == "video")


@pytest.mark.parametrize("seed", [-1, 2**63, "x", None, 1.5e30])
def test_a_seed_out_of_range_or_not_a_number_is_replaced_by_a_random_one(seed):
    brief, warnings = normalize_brief({"positive_prompt": "a fox in snow", "seed": seed}, CATALOG)
    assert 0 <= brief["seed"] < 2**32 and warnings == []


def test_the_studios_defaults_fill_what_the_brief_leaves_out():
    defaults = {"checkpoint": "v1-5-pruned-emaonly.safetensors", "steps": 40, "sampler": "dpmpp_2m"}
    brief, warnings = normalize_brief({"positive_prompt": "a fox in snow"}, CATALOG, defaults=defaults)
    assert (brief["checkpoint"], brief["steps"], brief["sampler"]) == (
        "v1-5-pruned-emaonly.safetensors",
        40,
        "dpmpp_2m",
    )
    assert warnings == []
    brief, warnings = normalize_brief(
        {"positive_prompt": "a fox in snow", "checkpoint": "gone.safetensors", "sampler": "lms"},
        CATALOG,
        defaults={"checkpoint": "also-gone.safetensors", "sampler": "ddim"},
    )
    # A default the server does not have either gives way to the first thing it lists.
    assert (brief["checkpoint"], brief["sampler"]) == ("sd_xl_base_1.0.safetensors", "euler")
    assert warnings == [
        "checkpoint 'gone.safetensors' is not available on the ComfyUI server; using sd_xl_base_1.0.safetensors.",
        "sampler 'lms' is not available on the ComfyUI server; using euler.",
    ]


def test_a_video_model_asked_to_draw_is_replaced_by_the_default_picture_model_and_the_artist_is_told_why():
    catalog = Catalog(
        available=True,
        checkpoints=["svd_xt.safetensors", "sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"],
        samplers=["euler"],
        schedulers=["normal"],
        node_types={"KSampler"},
    )
    raw = {"positive_prompt": "a fox in snow", "checkpoint": "svd_xt.safetensors"}
    for defaults, picked in [
        (None, "sd_xl_base_1.0.safetensors"),
        ({"checkpoint": "v1-5-pruned-emaonly.safetensors"}, "v1-5-pruned-emaonly.safetensors"),
    ]:
        brief, warnings = normalize_brief(raw, catalog, defaults=defaults)
        assert brief["checkpoint"] == picked
        assert warnings == [
            f"checkpoint svd_xt.safetensors is a video model: it animates a picture but cannot draw one; "
            f"using {picked} for the picture."
        ]


def test_without_a_server_list_the_brief_keeps_its_own_names_and_an_empty_server_is_named():
    unknown = Catalog(available=False, checkpoints=[], samplers=[], schedulers=[], node_types=set())
    brief, warnings = normalize_brief({"positive_prompt": "a fox in snow", "sampler": "lms"}, unknown)
    assert (brief["sampler"], brief["scheduler"], brief["checkpoint"]) == ("lms", "normal", "")
    assert warnings == []
    empty = Catalog(available=True, checkpoints=[], samplers=[], schedulers=[], node_types=set())
    _, warnings = normalize_brief({"positive_prompt": "a fox in snow"}, empty)
    assert warnings == ["ComfyUI has no checkpoint installed: put a .safetensors file in ComfyUI/models/checkpoints."]


def test_a_brief_without_a_prompt_says_so():
    with pytest.raises(BriefError, match="^the brief has no positive prompt$"):
        normalize_brief({"positive_prompt": "   ", "prompt": ""}, CATALOG)
    with pytest.raises(BriefError, match="^the brief is neither JSON nor text$"):
        normalize_brief(42, CATALOG)


@pytest.mark.parametrize(
    "text",
    [
        '{"positive_prompt": "a fox in snow"}!',  # a character straight after the object
        '{"positive_prompt": "a fox in snow"} There you go.',  # the object first, prose after
        'Sure: {"positive_prompt": "a fox in snow", "extra": {"a": 1}} hope it helps',  # an object inside
    ],
)
def test_a_json_brief_is_found_wherever_the_prose_puts_it(text):
    assert parse(text)["positive_prompt"] == "a fox in snow"


@pytest.mark.parametrize(
    "cut, kept",
    [
        (
            '{"positive_prompt": "a fox in snow", "extra": {"a": "b',
            {"positive_prompt": "a fox in snow", "extra": {"a": "b"}},
        ),
        (
            '{"positive_prompt": "a fox in snow", "loras": ["a", "b',
            {"positive_prompt": "a fox in snow", "loras": ["a", "b"]},
        ),
        ('{"positive_prompt": "a fox in snow", "steps": 30   ', {"positive_prompt": "a fox in snow"}),  # 30 may be 300
    ],
)
def test_a_cut_brief_is_closed_where_it_stopped(cut, kept):
    assert parse(cut) == kept


def test_key_value_lines_take_the_first_of_each_field_and_nothing_else():
    text = "prompt: \"a fox in snow\"\nsampler name: 'euler'\nsteps: 20\nsteps: 40\nmood: calm\ncfg scale = 6"
    assert parse(text) == {"positive_prompt": "a fox in snow", "sampler": "euler", "steps": "20", "cfg": "6"}
    assert parse("prompt: a fox, 1216x832") == {"positive_prompt": "a fox, 1216x832", "width": "1216", "height": "832"}
    assert parse("prompt: a fox, 1216x832\nwidth: 640") == {"positive_prompt": "a fox, 1216x832", "width": "640"}


def test_a_signed_seed_of_twenty_characters_is_kept_to_the_last_digit():
    brief, _ = normalize_brief({"positive_prompt": "a fox in snow", "seed": "+9223372036854775807"}, CATALOG)
    assert brief["seed"] == 2**63 - 1


# ---- presets: aspect, style, LoRAs --------------------------------------------------------------------------
WITH_LORAS = Catalog(
    **{**CATALOG.__dict__, "choices": {("LoraLoader", "lora_name"): ["ink.safetensors", "detail.safetensors"]}}
)
SD15 = "v1-5-pruned-emaonly.safetensors"


@pytest.mark.parametrize(
    "checkpoint, aspect, size",
    [
        (SD15, "portrait", (512, 768)),
        (SD15, "wide", (896, 512)),
        ("sd_xl_base_1.0.safetensors", "portrait", (832, 1216)),
    ],
)
def test_an_aspect_preset_takes_the_trained_size_of_the_models_family(checkpoint, aspect, size):
    brief, warnings = normalize_brief(
        {"positive_prompt": "a fox", "checkpoint": checkpoint, "aspect": aspect, "width": 64, "height": 64}, CATALOG
    )
    assert (brief["aspect"], brief["width"], brief["height"]) == (aspect, *size)
    assert warnings == []


@pytest.mark.parametrize(
    "sent, aspect, size",
    [
        ({"width": 512, "height": 768}, "portrait", (512, 768)),  # the size of a preset is that preset
        ({"width": 640, "height": 640}, "", (640, 640)),  # sizes without an aspect: fitted when built
        ({"aspect": "custom", "width": 640, "height": 480}, "custom", (640, 480)),
        ({"aspect": "CUSTOM", "width": 2000, "height": 480}, "custom", (2000, 480)),  # refused when built
        ({}, "square", (512, 512)),
    ],
)
def test_typed_sizes_are_kept_and_named_by_what_they_are(sent, aspect, size):
    brief, _ = normalize_brief({"positive_prompt": "a fox", "checkpoint": SD15, **sent}, CATALOG)
    assert (brief["aspect"], brief["width"], brief["height"]) == (aspect, *size)


def test_an_unknown_aspect_is_said_and_the_size_decides():
    brief, warnings = normalize_brief(
        {"positive_prompt": "a fox", "checkpoint": SD15, "aspect": "tall", "width": 512, "height": 768}, CATALOG
    )
    assert (brief["aspect"], brief["width"], brief["height"]) == ("portrait", 512, 768)
    assert warnings == ["aspect 'tall' is not one of square, portrait, landscape, wide; the size decides."]


@pytest.mark.parametrize(
    "sent, kept, said",
    [
        ("watercolor", "watercolor", False),
        ("Oil painting", "oil", False),
        ("none", "", False),
        ("", "", False),
        (None, "", False),
        ("vaporwave", "", True),
        (42, "", False),
    ],
)
def test_a_style_is_a_preset_by_key_or_name_or_none(sent, kept, said):
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "style": sent}, CATALOG)
    assert brief["style"] == kept
    assert any("not one of the presets" in warning for warning in warnings) == said


def test_installed_loras_are_kept_with_their_strength_clamped_at_both_edges():
    from generations.services.brief_spec import LIMITS

    bound = LIMITS["lora_strength"]
    sent = [
        {"name": "ink.safetensors", "strength": bound.hi},
        {"name": "detail.safetensors", "strength": bound.lo},
    ]
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "loras": sent}, WITH_LORAS)
    assert brief["loras"] == sent and warnings == []
    sent = [{"name": "ink.safetensors", "strength": bound.hi + 0.01}, "detail.safetensors:" + str(bound.lo - 0.01)]
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "loras": sent}, WITH_LORAS)
    assert brief["loras"] == [
        {"name": "ink.safetensors", "strength": bound.hi},
        {"name": "detail.safetensors", "strength": bound.lo},
    ]
    assert len(warnings) == 2 and all("strength adjusted" in warning for warning in warnings)


def test_a_model_naming_a_lora_that_is_not_installed_loses_it_with_a_warning():
    sent = [{"name": "gone.safetensors", "strength": 0.7}, {"name": "ink.safetensors", "strength": 0.7}]
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "loras": sent}, WITH_LORAS)
    assert brief["loras"] == [{"name": "ink.safetensors", "strength": 0.7}]
    assert warnings == [
        "The LoRA gone.safetensors is not installed on ComfyUI: put it in ComfyUI/models/loras, "
        "or take it out of the brief; it was left out."
    ]


def test_a_lora_that_is_not_installed_is_refused_when_the_artist_sends_the_brief():
    with pytest.raises(
        BriefError, match="gone.safetensors is not installed on ComfyUI: put it in ComfyUI/models/loras"
    ):
        normalize_brief({"positive_prompt": "a fox", "loras": [{"name": "gone.safetensors"}]}, WITH_LORAS, strict=True)


def test_loras_named_twice_count_once_and_at_most_three_are_kept():
    many = Catalog(**{**CATALOG.__dict__, "choices": {("LoraLoader", "lora_name"): list("abcde")}})
    brief, warnings = normalize_brief({"positive_prompt": "a fox", "loras": ["a", "a:0.3", "b", "c", "d"]}, many)
    assert [lora["name"] for lora in brief["loras"]] == ["a", "b", "c"]
    assert brief["loras"][0]["strength"] == 1.0  # the first mention wins
    assert warnings == ["a brief takes up to 3 LoRAs; kept a, b, c."]


def test_loras_are_kept_as_named_while_comfyui_cannot_be_asked():
    brief, _ = normalize_brief({"positive_prompt": "a fox", "loras": ["ink.safetensors:0.5"]}, BARE, strict=True)
    assert brief["loras"] == [{"name": "ink.safetensors", "strength": 0.5}]


def test_a_models_brief_is_fitted_to_a_size_its_family_draws_well():
    from generations.services.brief import fit_to_family

    brief, warnings = normalize_brief(
        {"positive_prompt": "a fox", "checkpoint": SD15, "width": 1024, "height": 1024}, CATALOG
    )
    fit_to_family(brief, CATALOG, warnings)
    assert (brief["aspect"], brief["width"], brief["height"]) == ("square", 512, 512)
    assert warnings == ["Stable Diffusion 1.5 draws at 256–896 px a side, so 1024×1024 became 512×512 (square)."]
    video, warnings = normalize_brief(
        {"positive_prompt": "a fox", "checkpoint": SD15, "width": 1024, "height": 576, "media_kind": "video"}, CATALOG
    )
    assert fit_to_family(video, CATALOG, warnings)["width"] == 1024 and warnings == []  # its video model decides
