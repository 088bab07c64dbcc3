"""Style presets as data: a few looks an artist names in a word, each adding to the positive and negative
prompts. The brief keeps the artist's own prompt and the preset apart; they meet only in the graph."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    key: str
    label: str
    positive: str
    negative: str


STYLES: dict[str, Style] = {
    style.key: style
    for style in (
        Style(
            "photographic",
            "Photographic",
            "photograph, natural light, 35mm, sharp focus, fine detail",
            "painting, illustration, drawing, cartoon, cgi",
        ),
        Style(
            "cinematic",
            "Cinematic",
            "cinematic film still, dramatic lighting, shallow depth of field, anamorphic, film grain",
            "flat lighting, cartoon, amateur snapshot",
        ),
        Style(
            "illustration",
            "Digital illustration",
            "digital illustration, clean lines, rich colour, detailed",
            "photograph, photorealistic, blurry",
        ),
        Style(
            "anime",
            "Anime",
            "anime style, cel shading, expressive line art, vibrant colours",
            "photograph, photorealistic, 3d render",
        ),
        Style(
            "watercolor",
            "Watercolour",
            "watercolour painting, soft washes, paper texture, bleeding edges",
            "photograph, hard edges, 3d render",
        ),
        Style(
            "oil",
            "Oil painting",
            "oil painting, visible brush strokes, canvas texture, painterly",
            "photograph, smooth digital, 3d render",
        ),
        Style(
            "render3d",
            "3D render",
            "3d render, octane, global illumination, subsurface scattering, studio lighting",
            "painting, sketch, flat, 2d",
        ),
        Style(
            "pixel",
            "Pixel art",
            "pixel art, limited palette, crisp pixels, retro game",
            "blurry, smooth gradients, photograph",
        ),
        Style(
            "lineart",
            "Ink line art",
            "ink line art, black and white, cross-hatching, pen drawing",
            "colour, photograph, 3d render, shading gradients",
        ),
    )
}
NO_STYLE = ""


def find(value) -> Style | None:
    """The preset a brief names by key or label, in any case; None for no style or an unknown one."""
    if not isinstance(value, str) or not value.strip():
        return None
    wanted = value.strip().lower()
    return next((style for style in STYLES.values() if wanted in (style.key, style.label.lower())), None)


def styled(brief: dict) -> dict:
    """The brief as the graph uses it: the artist's prompts, then the preset's additions to each."""
    style = STYLES.get(brief.get("style") or NO_STYLE)
    if style is None:
        return brief
    negative = brief.get("negative_prompt", "")
    return {
        **brief,
        "positive_prompt": _joined(brief["positive_prompt"], style.positive),
        "negative_prompt": _joined(negative, style.negative),
    }


def _joined(first: str, second: str) -> str:
    return f"{first.rstrip(' ,')}, {second}" if first.strip() else second
