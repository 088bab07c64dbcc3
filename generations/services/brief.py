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
    LIMITS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    SIZE,
)
from generations.services.catalog import Catalog
from generations.services.json_text import Structure

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
)


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


def brief_schema(catalog: Catalog, *, max_tokens: int | None = None) -> dict:
    positive_chars, negative_chars = prompt_limits(max_tokens)

    def choice(options: list[str]) -> dict:
        return {"type": "string", "enum": list(options)} if options else {"type": "string"}

    def ask(name: str, kind: str = "integer") -> dict:
        low, high = LIMITS[name].ask
        return {"type": kind, "minimum": low, "maximum": high}

    return {
        "type": "object",
        "properties": {
            "positive_prompt": {"type": "string", "minLength": 10, "maxLength": positive_chars},
            "negative_prompt": {"type": "string", "maxLength": negative_chars},
            "checkpoint": choice(image_checkpoints(catalog) or catalog.checkpoints),
            "width": {**ask("width"), "multipleOf": ASK_SIZE_MULTIPLE},
            "height": {**ask("height"), "multipleOf": ASK_SIZE_MULTIPLE},
            "steps": ask("steps"),
            "cfg": ask("cfg", "number"),
            "sampler": choice(catalog.samplers),
            "scheduler": choice(catalog.schedulers),
            "seed": {"type": "integer", "minimum": 0, "maximum": ASK_MAX_SEED},
            "media_kind": {"type": "string", "enum": ["image", "video"]},
            "frames": ask("frames"),
            "fps": ask("fps"),
        },
        "required": ["positive_prompt", "negative_prompt", "width", "height", "steps", "cfg", "sampler", "scheduler"],
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


def normalize_brief(raw, catalog: Catalog, *, defaults: dict | None = None) -> tuple[dict, list[str]]:
    """Validate and clamp a brief; returns (brief, warnings). Raises BriefError without a usable prompt."""
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
    kind = data.get("media_kind") if data.get("media_kind") in ("image", "video") else base["media_kind"]
    installed = families.image_models(catalog) or image_checkpoints(catalog) or catalog.checkpoints
    checkpoint_default = base.get("checkpoint") or (installed[0] if installed else "")
    brief = {
        "positive_prompt": positive,
        "negative_prompt": _text(data.get("negative_prompt", base["negative_prompt"]), MAX_PROMPT_CHARS),
        "checkpoint": _checkpoint(data.get("checkpoint"), catalog, installed, checkpoint_default, warnings),
        "width": _size(data.get("width", base["width"]), base["width"], "width", warnings),
        "height": _size(data.get("height", base["height"]), base["height"], "height", warnings),
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
