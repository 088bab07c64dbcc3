"""The settings' view of the model families: per ComfyUI server what each family has and lacks, the artist's
models with the family each is drawn as, and setting that family by hand."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from generations.models import ModelFamily
from generations.services import families
from generations.services.catalog import Catalog, get_catalog
from generations.workflows.families import FAMILIES, Family, recognise

# The folders of the models an artist chooses, and the loader list each is read from.
MODEL_LISTS = (("checkpoints", None), ("diffusion_models", ("UNETLoader", "unet_name")))


class FamilyNotSet(ValueError):
    """The family could not be set; the message says why."""


@dataclass
class ServerFamilies:
    server: str
    catalog: Catalog
    reports: list[families.FamilyReport]


@dataclass
class ModelRow:
    name: str
    folder: str
    family: Family | None
    by_name: Family | None  # what the file name alone tells
    options: list[Family]

    @property
    def overridden(self) -> bool:
        return self.family is not self.by_name


def servers(owner_id: int) -> list[ServerFamilies]:
    found = []
    for server in settings.COMFYUI_URLS:
        catalog = families.for_owner(get_catalog(server), owner_id)
        found.append(ServerFamilies(server, catalog, families.reports(catalog) if catalog.available else []))
    return found


def _listed(catalog: Catalog) -> list[tuple[str, str]]:
    rows = []
    for folder, loader in MODEL_LISTS:
        names = catalog.checkpoints if loader is None else catalog.choices.get(loader) or []
        rows += [(name, folder) for name in names]
    return rows


def model_rows(owner_id: int) -> list[ModelRow]:
    """Every model file of the farm the artist can draw or animate with, and its family."""
    catalog = families.for_owner(get_catalog(), owner_id)
    return [
        ModelRow(
            name,
            folder,
            families.recognised(catalog, name, folder),
            recognise(name, folder),
            families.families_for_folder(folder),
        )
        for name, folder in _listed(catalog)
    ]


def set_family(owner_id: int, model: str, family_key: str) -> Family | None:
    """Draw ``model`` as the family ``family_key`` ("" = as its name tells again); returns the family now used."""
    catalog = get_catalog()
    if not catalog.available:
        raise FamilyNotSet(f"ComfyUI cannot be asked which models it has ({catalog.error}); try again when it answers")
    folder = dict(_listed(catalog)).get(model)
    if folder is None:
        raise FamilyNotSet(f"no ComfyUI server lists the model {model}")
    if not family_key:
        ModelFamily.objects.filter(owner_id=owner_id, model=model).delete()
        return recognise(model, folder)
    family = FAMILIES.get(family_key)
    if family is None or family.model.folder != folder:
        choices = ", ".join(each.label for each in families.families_for_folder(folder))
        raise FamilyNotSet(f"a model in ComfyUI/models/{folder} can be one of: {choices}")
    ModelFamily.objects.update_or_create(owner_id=owner_id, model=model, defaults={"family": family.key})
    return family
