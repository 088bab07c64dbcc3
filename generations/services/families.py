"""Which model families a ComfyUI server (or the farm) can run, from its catalog: each family's files found in
its loaders' dropdowns, what is missing (which file, which folder, which node), and the files a job uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from generations.models import ModelFamily
from generations.services.catalog import Catalog
from generations.workflows.families import FAMILIES, IMAGE, VIDEO, Family, FileNeed, recognise


@dataclass
class FamilyReport:
    family: Family
    models: list[str]  # the family's model files this server has
    files: dict[str, str] = field(default_factory=dict)  # role -> the file it would use, for the other needs
    missing: list[str] = field(default_factory=list)  # one sentence per missing file or node

    @property
    def ready(self) -> bool:
        return bool(self.models) and not self.missing

    @property
    def label(self) -> str:
        return self.family.label


def for_owner(catalog: Catalog, owner_id: int) -> Catalog:
    """The catalog as its user sees it: with the families they set for models whose names do not tell."""
    overrides = dict(ModelFamily.objects.filter(owner_id=owner_id).values_list("model", "family"))
    return dataclasses.replace(catalog, family_overrides=overrides) if overrides else catalog


def recognised(catalog: Catalog, name: str, folder: str) -> Family | None:
    """The family of a model file in ``folder``: as its owner set it, else as its name tells."""
    chosen = FAMILIES.get(catalog.family_overrides.get(name, ""))
    if chosen is not None and chosen.model.folder == folder:
        return chosen
    return recognise(name, folder)


def families_for_folder(folder: str) -> list[Family]:
    """The families whose model lives in ``folder``: what a model there can be set to."""
    return [family for family in FAMILIES.values() if family.model.folder == folder]


def models_of(catalog: Catalog, family: Family) -> list[str]:
    need = family.model
    listed = catalog.choices.get((need.node, need.input))
    if listed is None and need.folder == "checkpoints":
        listed = catalog.checkpoints
    return [name for name in listed or [] if recognised(catalog, name, need.folder) is family]


def file_for(catalog: Catalog, need: FileNeed) -> str | None:
    return next((name for name in catalog.choices.get((need.node, need.input)) or [] if need.matches(name)), None)


def missing_file(need: FileNeed) -> str:
    return f"{need.example} in ComfyUI/models/{need.folder} (for {need.node})"


def report(catalog: Catalog, family: Family) -> FamilyReport:
    found = FamilyReport(family, models_of(catalog, family))
    if not found.models:
        found.missing.append(missing_file(family.model))
    for need in family.files[1:]:
        name = file_for(catalog, need)
        if name:
            found.files[need.role] = name
        else:
            found.missing.append(missing_file(need))
    example = {need.role: need.example for need in family.files}
    width, height = family.sizes["square"]
    graph = family.graph({**_SAMPLE_BRIEF, "width": width, "height": height}, example)
    nodes = sorted({node["class_type"] for node in graph.values()} - catalog.node_types)
    if catalog.node_types and nodes:
        found.missing.append(f"the node{'s' if len(nodes) > 1 else ''} {', '.join(nodes)} (update ComfyUI)")
    return found


def reports(catalog: Catalog) -> list[FamilyReport]:
    return [report(catalog, family) for family in FAMILIES.values()]


def image_models(catalog: Catalog) -> list[str]:
    """Every model an image can be drawn with, in the server's order: checkpoints, then the diffusion models of
    the families that load them apart from their text encoders and VAE."""
    drawing = {name for family in FAMILIES.values() if family.kind == IMAGE for name in models_of(catalog, family)}
    listed = list(catalog.checkpoints) + list(catalog.choices.get(("UNETLoader", "unet_name")) or [])
    return [name for name in dict.fromkeys(listed) if name in drawing]


def family_of(catalog: Catalog, model: str) -> Family | None:
    """The family of a model the catalog lists (a diffusion model is looked for in its own folder)."""
    folder = "checkpoints" if model in catalog.checkpoints else "diffusion_models"
    return recognised(catalog, model, folder)


def text_to_video(catalog: Catalog) -> tuple[Family, str] | None:
    """A family that makes video from text, ready on this catalog, and its model: the first found."""
    for family in FAMILIES.values():
        if family.kind == VIDEO and not family.needs_image:
            found = report(catalog, family)
            if found.ready:
                return family, found.models[0]
    return None


def files_for(catalog: Catalog, family: Family, model: str) -> dict[str, str]:
    """role -> file for a job with ``model``; the other files are the first of each the server has (or the
    family's usual name, when the catalog could not be read: ComfyUI's answer will then say)."""
    files = {"model": model}
    for need in family.files[1:]:
        files[need.role] = file_for(catalog, need) or need.example
    return files


def _draws_at(family: Family) -> str:
    low, high = family.size_range
    return f"{family.label} draws at {low}–{high} px a side"


def out_of_range(family: Family, width: int, height: int) -> str:
    aspect, (preset_width, preset_height) = family.nearest_size(width, height)
    return (
        f"{_draws_at(family)}, and {width}×{height} is outside that: type a size within it, or choose the "
        f"{aspect} aspect ({preset_width}×{preset_height})"
    )


def fit_size(family: Family, width: int, height: int) -> tuple[int, int, str | None]:
    """A size this family draws well: on its step, and within its range (else its trained size of the nearest
    shape). The third value says what changed, for the artist."""
    if not family.fits(width, height):
        aspect, (new_width, new_height) = family.nearest_size(width, height)
        return (
            new_width,
            new_height,
            f"{_draws_at(family)}, so {width}×{height} became {new_width}×{new_height} ({aspect}).",
        )
    step = family.size_step
    return max(step, width - width % step), max(step, height - height % step), None


_SAMPLE_BRIEF = {"positive_prompt": "a check", "negative_prompt": "", "seed": 1}
