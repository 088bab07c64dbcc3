"""What the brief card offers, as an artist chooses: the installed models, the aspects of the chosen model's
family at its trained sizes, style presets and installed LoRAs first; the raw numbers summed up in a line."""

from __future__ import annotations

from dataclasses import dataclass

from generations.services.brief import drawing_models, image_family
from generations.services.brief_spec import LIMITS, MAX_LORAS
from generations.services.catalog import Catalog
from generations.workflows.families import ASPECTS
from generations.workflows.styles import STYLES


@dataclass(frozen=True)
class AspectChoice:
    key: str
    width: int
    height: int

    @property
    def label(self) -> str:
        return f"{self.key.capitalize()} · {self.width}×{self.height}"


def card_options(catalog: Catalog, brief: dict) -> dict:
    model = brief.get("checkpoint") or ""
    family = image_family(catalog, model)
    chosen = list(brief.get("loras") or [])
    loras = catalog.loras or [lora["name"] for lora in chosen]
    rows = chosen + ([{"name": "", "strength": 1.0}] if loras and len(chosen) < MAX_LORAS else [])
    return {
        "models": drawing_models(catalog) or ([model] if model else []),
        "family": family,
        "aspects": [AspectChoice(key, *family.sizes[key]) for key in ASPECTS] if family else [],
        "aspect_keys": list(ASPECTS) if family else [],
        "styles": list(STYLES.values()),
        "loras": loras,
        "lora_rows": rows,
        "lora_bound": LIMITS["lora_strength"],
        "numbers": numbers_line(brief),
        "is_video": brief.get("media_kind") == "video",
    }


def numbers_line(brief: dict) -> str:
    """The folded numbers in one line: "512×768 · 25 steps · CFG 7 · euler / normal · seed 42"."""
    parts = [
        f"{brief.get('width')}×{brief.get('height')}",
        f"{brief.get('steps')} steps",
        f"CFG {brief.get('cfg', 0):g}",
        f"{brief.get('sampler')} / {brief.get('scheduler')}",
        f"seed {brief.get('seed')}",
    ]
    if brief.get("media_kind") == "video":
        parts.append(f"{brief.get('frames')} frames at {brief.get('fps')} fps")
    return " · ".join(parts)
