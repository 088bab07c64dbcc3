"""Pixel's generation brief: the schema the LLM fills in, and validation of what comes back.

The LLM's JSON-schema mode is the main path; free text is parsed only as a fallback.
Everything is clamped to what a ComfyUI server can run: sizes a multiple of 8, and
checkpoint, sampler and scheduler only from what the server reports.
"""

import json
import math
import random
import re

from generations.services import families
from generations.services.brief_spec import (
    ASK_MAX_SEED,
    ASK_NEGATIVE_CHARS,
    ASK_PROMPT_CHARS,
    ASK_SIZE_MULTIPLE,
    CUSTOM_ASPECT,
    LIMITS,
    MAX_LORAS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    SIZE,
)
from generations.services.catalog import Catalog
from generations.services.json_text import Structure
from generations.workflows import styles
from generations.workflows.families import ASPECTS, IMAGE, Family

MIN_SIZE, MAX_SIZE = SIZE.lo, SIZE.hi
DEFAULTS = {
    "negative_prompt": "blurry, low quality, watermark, text, deformed",
    "width": 1024,
    "height": 1024,
    "steps": 25,
    "cfg": 7.0,
    "sampler": "euler",
    "scheduler": "normal",
    "media_kind": "image",
    "frames": 14,
    "fps": 8,
}
FIELDS = (
    "positive_prompt",
    "negative_prompt",
    "checkpoint",
    "width",
    "height",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "seed",
    "media_kind",
    "frames",
    "fps",
    "aspect",
    "style",
    "loras",
)
NO_STYLE_WORDS = ("", "none", "no style")


VIDEO_CHECKPOINT_HINTS = ("svd", "video", "img2vid")


class BriefError(ValueError):
    """Nothing usable could be made of the brief."""


def is_video_checkpoint(name: str) -> bool:
    """Stable Video Diffusion style checkpoints animate an image; they cannot make one from text."""
    return any(hint in (name or "").lower() for hint in VIDEO_CHECKPOINT_HINTS)


def image_checkpoints(catalog: Catalog) -> list[str]:
    return [name for name in catalog.checkpoints if not is_video_checkpoint(name)]


# What the brief's JSON costs besides its two prompts (keys, numbers, names), and the characters a token
# carries on the safe side: the prompts' limits leave the whole brief room within the engine's token budget.
SCHEMA_OVERHEAD_CHARS = 400
CHARS_PER_TOKEN = 3


def prompt_limits(max_tokens: int | None) -> tuple[int, int]:
    """The longest positive and negative prompt to ask for, so a brief fits in ``max_tokens``."""
    if not max_tokens:
        return ASK_PROMPT_CHARS, ASK_NEGATIVE_CHARS
    room = max(0, max_tokens * CHARS_PER_TOKEN - SCHEMA_OVERHEAD_CHARS)
    return (
        max(120, min(ASK_PROMPT_CHARS, room * 65 // 100)),
        max(40, min(ASK_NEGATIVE_CHARS, room * 35 // 100)),
    )


def drawing_models(catalog: Catalog) -> list[str]:
    """The models a picture can be drawn with, as the brief offers them."""
    return families.image_models(catalog) or image_checkpoints(catalog) or list(catalog.checkpoints)


def image_family(catalog: Catalog, model: str | None) -> Family | None:
    family = families.family_of(catalog, model) if model else None
    return family if family is not None and family.kind == IMAGE else None


# The brief's summary of the agreed direction: two short sentences at most.
SUMMARY_CHARS = 240


def brief_schema(catalog: Catalog, *, max_tokens: int | None = None, model: str | None = None) -> dict:
    """What Pixel fills in: only installed models, LoRAs and style presets; sizes from the trained sizes of
    ``model``'s family (the brief's current model; else the first installed)."""
    positive_chars, negative_chars = prompt_limits(max_tokens)
    models = drawing_models(catalog)
    family = image_family(catalog, model if model in models else (models[0] if models else None))

    def choice(options: list[str]) -> dict:
        return {"type": "string", "enum": list(options)} if options else {"type": "string"}

    def ask(name: str, kind: str = "integer") -> dict:
        low, high = LIMITS[name].ask
        return {"type": kind, "minimum": low, "maximum": high}

    def side(name: str, index: int) -> dict:
        if family is None:
            return {**ask(name), "multipleOf": ASK_SIZE_MULTIPLE}
        return {"type": "integer", "enum": sorted({size[index] for size in family.sizes.values()})}

    properties = {
        # First, so a model writes it before the numbers: what the team agreed on, for the artist to read
        # (not needed to render, so not required).
        "summary": {"type": "string", "maxLength": SUMMARY_CHARS},
        "positive_prompt": {"type": "string", "minLength": 10, "maxLength": positive_chars},
        "negative_prompt": {"type": "string", "maxLength": negative_chars},
        "checkpoint": choice(models),
        "aspect": {"type": "string", "enum": list(ASPECTS)},
        "style": {"type": "string", "enum": ["none", *styles.STYLES]},
        "width": side("width", 0),
        "height": side("height", 1),
        "steps": ask("steps"),
        "cfg": ask("cfg", "number"),
        "sampler": choice(catalog.samplers),
        "scheduler": choice(catalog.schedulers),
        "seed": {"type": "integer", "minimum": 0, "maximum": ASK_MAX_SEED},
        "media_kind": {"type": "string", "enum": ["image", "video"]},
        "frames": ask("frames"),
        "fps": ask("fps"),
    }
    if catalog.loras:
        properties["loras"] = {
            "type": "array",
            "maxItems": MAX_LORAS,
            "items": {
                "type": "object",
                "properties": {"name": choice(catalog.loras), "strength": ask("lora_strength", "number")},
                "required": ["name", "strength"],
            },
        }
    return {
        "type": "object",
        "properties": properties,
        "required": ["positive_prompt", "negative_prompt", "aspect", "style", "steps", "cfg", "sampler", "scheduler"],
    }


# How many trailing fields of a cut brief may be given up to make it parse.
MAX_REPAIR_CUTS = 12
_CUT_NUMBER = re.compile(r":\s*-?[\d.]+$")
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)
_KEY_VALUE = re.compile(r"^\s*[-*]?\s*\**([A-Za-z _]+?)\**\s*[:=]\s*(.+?)\s*$", re.M)
_ALIASES = {
    "prompt": "positive_prompt",
    "positive": "positive_prompt",
    "positive prompt": "positive_prompt",
    "negative": "negative_prompt",
    "negative prompt": "negative_prompt",
    "model": "checkpoint",
    "sampler name": "sampler",
    "sampler_name": "sampler",
    "cfg scale": "cfg",
    "guidance": "cfg",
    "kind": "media_kind",
    "media kind": "media_kind",
    "media": "media_kind",
}


def _json_object(text: str) -> dict | None:
    candidates = [text.strip()]
    candidates += _FENCE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    if start >= 0:
        candidates += _completed(text[start:])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _completed(cut: str) -> list[str]:
    """A JSON object the engine cut at its token limit, closed at each point where it could be: the whole
    text with its open string and brackets closed, then shortened to each earlier comma outside a string.
    The first that parses keeps the most of what was written."""
    closers: list[str] = []
    commas: list[tuple[int, list[str]]] = []
    structure = Structure(cut)
    for index, char in structure:
        if char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]" and closers:
            closers.pop()
            if not closers:
                return []  # a whole object is there: the plain candidates cover it
        elif char == ",":
            commas.append((index, list(closers)))
    whole = cut.rstrip()
    if structure.in_string:
        whole += '"'
    # A number at the very end may have lost digits (1024 cut to 10): better without that field.
    candidates = [] if _CUT_NUMBER.search(whole) else [whole + "".join(reversed(closers))]
    for index, open_then in reversed(commas[-MAX_REPAIR_CUTS:]):
        candidates.append(cut[:index] + "".join(reversed(open_then)))
    return candidates


def _key_values(text: str) -> dict:
    found = {}
    for key, value in _KEY_VALUE.findall(text):
        name = key.strip().lower()
        name = _ALIASES.get(name, name.replace(" ", "_"))
        if name in FIELDS and name not in found:
            found[name] = value.strip().strip('"').strip("'")
    size = re.search(r"\b(\d{3,4})\s*[x×]\s*(\d{3,4})\b", text)
    if size and "width" not in found:
        found["width"], found["height"] = size.group(1), size.group(2)
    return found


def parse(raw) -> dict:
    if isinstance(raw, dict):
        return dict(raw)
    if not isinstance(raw, str):
        raise BriefError("the brief is neither JSON nor text")
    return _json_object(raw) or _key_values(raw)


def _exact_int(value) -> int | None:
    # Seeds go up to 2**63-1: a detour through float would round them.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value.strip()) <= 20:
        return int(value.strip())
    return None


def _number(value, cast, default):
    if cast is int and (exact := _exact_int(value)) is not None:
        return exact, False
    try:
        number = cast(float(value)) if cast is int else cast(value)
    except (TypeError, ValueError, OverflowError):
        return default, True
    if not math.isfinite(number):
        return default, True
    return number, False


def _clamp(value, low, high):
    return max(low, min(high, value))


def _size(value, default: int, label: str, warnings: list[str]) -> int:
    number, bad = _number(value, int, default)
    if bad:
        warnings.append(f"{label} was not a number; using {default}.")
    clamped = _clamp(int(round(_clamp(number, 0, MAX_SIZE + 8) / 8)) * 8, MIN_SIZE, MAX_SIZE)
    if not bad and clamped != number:
        shown = number if abs(number) < 10**9 else "(out of range)"
        warnings.append(f"{label} {shown} adjusted to {clamped} (a multiple of 8 between {MIN_SIZE} and {MAX_SIZE}).")
    return clamped


def _pick(value, options: list[str], default: str, label: str, warnings: list[str]) -> str:
    if not options:
        return str(value or default)
    if isinstance(value, str) and value in options:
        return value
    fallback = default if default in options else options[0]
    if value:
        warnings.append(f"{label} {value!r} is not available on the ComfyUI server; using {fallback}.")
    return fallback


def _checkpoint(value, catalog: Catalog, installed: list[str], default: str, warnings: list[str]) -> str:
    if isinstance(value, str) and value in catalog.checkpoints and value not in installed:
        fallback = default if default in installed else installed[0]
        warnings.append(
            f"checkpoint {value} is a video model: it animates a picture but cannot draw one; "
            f"using {fallback} for the picture."
        )
        return fallback
    return _pick(value, installed, default, "checkpoint", warnings)


def _text(value, limit: int) -> str:
    return " ".join(str(value or "").split())[:limit]


def lora_missing(name: str) -> str:
    return f"the LoRA {name} is not installed on ComfyUI: put it in ComfyUI/models/loras, or take it out of the brief"


def _loras(value, catalog: Catalog, strict: bool, warnings: list[str]) -> list[dict]:
    """[{"name", "strength"}] of installed LoRAs, strengths clamped; one LoRA named twice counts once."""
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [value]
    bound = LIMITS["lora_strength"]
    chosen: dict[str, float] = {}
    for item in items:
        if isinstance(item, str):
            name, _, strength = item.partition(":")
            item = {"name": name.strip(), "strength": strength.strip() or 1.0}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            warnings.append("a LoRA without a file name was left out.")
            continue
        name = item["name"].strip()
        if catalog.available and name not in catalog.loras:
            if strict:
                raise BriefError(lora_missing(name))
            missing = lora_missing(name)
            warnings.append(f"{missing[0].upper()}{missing[1:]}; it was left out.")
            continue
        strength, bad = _number(item.get("strength", 1.0), float, 1.0)
        if bad or bound.clamp(strength) != strength:
            warnings.append(f"LoRA {name}: strength adjusted to {bound.clamp(strength):g} ({bound.describe()}).")
        chosen.setdefault(name, round(float(bound.clamp(strength)), 2))
    if len(chosen) > MAX_LORAS:
        kept = list(chosen)[:MAX_LORAS]
        warnings.append(f"a brief takes up to {MAX_LORAS} LoRAs; kept {', '.join(kept)}.")
        chosen = {name: chosen[name] for name in kept}
    return [{"name": name, "strength": strength} for name, strength in chosen.items()]


def _style(value, warnings: list[str]) -> str:
    style = styles.find(value)
    if style is not None:
        return style.key
    if isinstance(value, str) and value.strip().lower() not in NO_STYLE_WORDS:
        names = ", ".join(style.label for style in styles.STYLES.values())
        warnings.append(f"style {value.strip()!r} is not one of the presets ({names}); no style is added.")
    return styles.NO_STYLE


def _aspect_and_size(data: dict, base: dict, family: Family | None, warnings: list[str]) -> tuple[str, int, int]:
    """(aspect, width, height): an aspect preset takes the family's trained size for it; typed sizes are those
    of the preset they equal, else "custom" (kept as typed: whether the family draws well at that size is
    decided where its graph is built, and a model's brief is fitted by ``fit_to_family``); "" when sizes were
    sent without an aspect."""
    wanted = str(data.get("aspect") or "").strip().lower()
    if wanted and wanted not in ASPECTS and wanted != CUSTOM_ASPECT:
        warnings.append(f"aspect {wanted!r} is not one of {', '.join(ASPECTS)}; the size decides.")
        wanted = ""
    typed = "width" in data or "height" in data
    if family is not None and (wanted in ASPECTS or not (wanted or typed)):
        aspect = wanted or "square"
        return (aspect, *family.sizes[aspect])
    width = _size(data.get("width", base["width"]), base["width"], "width", warnings)
    height = _size(data.get("height", base["height"]), base["height"], "height", warnings)
    if wanted:
        return wanted, width, height
    # Sizes sent without an aspect (an older brief, a script) are fitted where the graph is built, not refused.
    sizes = family.sizes if family is not None else {}
    return next((aspect for aspect, size in sizes.items() if size == (width, height)), ""), width, height


def fit_to_family(brief: dict, catalog: Catalog, warnings: list[str]) -> dict:
    """A brief the model wrote, at a size its picture's family draws well: the nearest trained size, said."""
    family = image_family(catalog, brief.get("checkpoint"))
    if family is None or brief["media_kind"] != "image" or family.fits(brief["width"], brief["height"]):
        return brief
    brief["width"], brief["height"], changed = families.fit_size(family, brief["width"], brief["height"])
    brief["aspect"] = family.nearest_size(brief["width"], brief["height"])[0]
    warnings.append(changed)
    return brief


def normalize_brief(
    raw, catalog: Catalog, *, defaults: dict | None = None, strict: bool = False
) -> tuple[dict, list[str]]:
    """Validate and clamp a brief; returns (brief, warnings). Raises BriefError without a usable prompt.

    ``strict``: what the artist sends to be generated now; a LoRA that is not installed is refused (a model's
    brief loses it with a warning)."""
    data = parse(raw)
    base = {**DEFAULTS, **(defaults or {})}
    warnings: list[str] = []
    positive = _text(data.get("positive_prompt") or data.get("prompt"), MAX_PROMPT_CHARS)
    if not positive:
        raise BriefError("the brief has no positive prompt")
    steps, bad_steps = _number(data.get("steps", base["steps"]), int, base["steps"])
    cfg, bad_cfg = _number(data.get("cfg", base["cfg"]), float, base["cfg"])
    steps_bound, cfg_bound = LIMITS["steps"], LIMITS["cfg"]
    if bad_steps or steps_bound.clamp(steps) != steps:
        warnings.append(f"steps adjusted to {steps_bound.clamp(steps)} ({steps_bound.describe()}).")
    if bad_cfg or cfg_bound.clamp(cfg) != cfg:
        warnings.append(f"cfg adjusted to {float(cfg_bound.clamp(cfg))} ({cfg_bound.describe()}).")
    seed, bad_seed = _number(data.get("seed"), int, None)
    if bad_seed or seed is None or not 0 <= seed <= MAX_SEED:
        seed = random.randint(0, 2**32 - 1)
    installed = drawing_models(catalog)
    checkpoint_default = base.get("checkpoint") or (installed[0] if installed else "")
    checkpoint = _checkpoint(data.get("checkpoint"), catalog, installed, checkpoint_default, warnings)
    kind = data.get("media_kind") if data.get("media_kind") in ("image", "video") else base["media_kind"]
    aspect, width, height = _aspect_and_size(data, base, image_family(catalog, checkpoint), warnings)
    brief = {
        "positive_prompt": positive,
        "negative_prompt": _text(data.get("negative_prompt", base["negative_prompt"]), MAX_PROMPT_CHARS),
        "checkpoint": checkpoint,
        "aspect": aspect,
        "width": width,
        "height": height,
        "style": _style(data.get("style"), warnings),
        "loras": _loras(data.get("loras"), catalog, strict, warnings),
        "steps": int(steps_bound.clamp(steps)),
        "cfg": round(float(cfg_bound.clamp(cfg)), 2),
        "sampler": _pick(data.get("sampler"), catalog.samplers, base["sampler"], "sampler", warnings),
        "scheduler": _pick(data.get("scheduler"), catalog.schedulers, base["scheduler"], "scheduler", warnings),
        "seed": int(seed),
        "media_kind": kind,
    }
    if kind == "video":
        frames, _ = _number(data.get("frames", base["frames"]), int, base["frames"])
        fps, _ = _number(data.get("fps", base["fps"]), int, base["fps"])
        brief["frames"] = int(LIMITS["frames"].clamp(frames))
        brief["fps"] = int(LIMITS["fps"].clamp(fps))
    if catalog.available and not catalog.checkpoints:
        warnings.append("ComfyUI has no checkpoint installed: put a .safetensors file in ComfyUI/models/checkpoints.")
    return brief, warnings
