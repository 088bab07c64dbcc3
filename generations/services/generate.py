"""Start, vary, rework, reproduce and cancel generations."""

import random

from django.db import transaction
from django.utils import timezone

from generations.models import Generation, MediaKind
from generations.services import cards, dispatch, families, placement, runner
from generations.services.brief import BriefError, is_video_checkpoint, normalize_brief
from generations.services.brief_spec import BATCH_COUNT, CUSTOM_ASPECT, MAX_SEED
from generations.services.catalog import get_catalog
from generations.services.custom_workflow import apply_custom_workflow
from generations.signals import generation_started
from generations.workflows import TEMPLATES
from generations.workflows.builders import REWORK_DENOISE, UPLOAD_PLACEHOLDER, add_loras
from generations.workflows.families import ASPECTS
from generations.workflows.styles import styled
from studio.core.models import Session

TEMPLATE_CHOICES = ("auto", "txt2img", "img2img", "video", "custom")


DEFAULT_VIDEO_CHECKPOINT = "svd_xt.safetensors"


def _video_checkpoint(catalog) -> str:
    """The Stable Video Diffusion checkpoint that animates the key frame."""
    found = next((name for name in catalog.checkpoints if is_video_checkpoint(name)), None)
    if found:
        return found
    if catalog.available:
        raise BriefError(
            "a video needs a video model, and ComfyUI has none ready: put svd_xt.safetensors in "
            "ComfyUI/models/checkpoints, or a Wan or LTX-Video model with its text encoder "
            "(manage.py check_engines says which files), or choose Image"
        )
    return DEFAULT_VIDEO_CHECKPOINT  # ComfyUI is down: its answer on submit will say if this is missing


def _build(session: Session, template: str, brief: dict, generation: Generation, catalog, warnings: list) -> dict:
    # The generation id keeps the graph (and so the file names) unique: even a reproduction with the
    # same seed writes new files, while ComfyUI still reuses its cached sampling.
    prefix = f"studio_s{session.pk}_g{generation.pk}"
    if template == "custom":
        graph, generation.uses_prompt = apply_custom_workflow(session, styled(brief))
        return graph
    if template == "video" and (found := families.text_to_video(catalog)):
        return _family_graph(found[0], found[1], brief, catalog, prefix, warnings)
    family = families.family_of(catalog, brief["checkpoint"])
    if template in ("txt2img", "img2img") and family is not None and family.kind == families.IMAGE:
        rework = template == "img2img"
        return _family_graph(family, brief["checkpoint"], brief, catalog, prefix, warnings, rework=rework)
    if template == "img2img":
        graph = TEMPLATES["img2img"](styled(brief), UPLOAD_PLACEHOLDER, prefix=prefix)
    elif template == "video":
        graph = TEMPLATES["video"](styled(brief), video_checkpoint=_video_checkpoint(catalog), prefix=prefix)
    else:
        graph = TEMPLATES["txt2img"](styled(brief), prefix=prefix)
    add_loras(graph, brief.get("loras") or [], ["1", 0], ["1", 1])  # the picture's checkpoint is node 1
    return graph


def _family_graph(family, model: str, brief: dict, catalog, prefix: str, warnings: list, *, rework=False) -> dict:
    """The family's own graph at its size for the brief's aspect (a typed size must be one it draws well: SD1.5
    asked for 1024² repeats its subject), with a video's length fitted. The brief keeps what the graph really
    uses, so the card and a reproduction show it."""
    aspect = brief.get("aspect")
    if aspect in ASPECTS:
        brief["width"], brief["height"] = family.sizes[aspect]
    elif aspect == CUSTOM_ASPECT and not family.fits(brief["width"], brief["height"]):
        raise BriefError(families.out_of_range(family, brief["width"], brief["height"]))
    else:
        brief["width"], brief["height"], changed = families.fit_size(family, brief["width"], brief["height"])
        if changed:
            warnings.append(changed)
    if family.kind == families.VIDEO:
        defaults = family.defaults_for(model)
        brief["frames"] = family.video_frames(brief.get("frames") or defaults["frames"])
        brief["video_model"] = model
    if brief.get("loras") and not family.lora:
        names = ", ".join(lora["name"] for lora in brief["loras"])
        warnings.append(f"{family.label} takes no LoRA, so {names} was left out.")
        brief["loras"] = []
    files = families.files_for(catalog, family, model)
    if rework:  # from the picture it reworks, which the worker uploads to the server that runs it
        return family.rework_graph(brief, files, UPLOAD_PLACEHOLDER, denoise=REWORK_DENOISE, prefix=prefix)
    return family.graph(brief, files, prefix=prefix)


def start_generation(
    session: Session,
    brief: dict,
    *,
    user,
    template: str = "auto",
    source: Generation | None = None,
    announce: bool = True,
) -> Generation:
    """Validate the brief, create the generation, tell the studio (``generation_started``, in the same
    transaction) and hand it to a worker once committed.

    ``announce=False``: the caller tells the browsers about it (after what it stored first).
    """
    if session.owner_id != user.pk:
        raise BriefError("that session is not yours")
    if template not in TEMPLATE_CHOICES:
        raise BriefError(f"unknown workflow template {template!r}")
    catalog = families.for_owner(get_catalog(), session.owner_id)
    brief, warnings = normalize_brief(brief, catalog, strict=True)
    if template == "auto":
        template = "video" if brief["media_kind"] == "video" else "txt2img"
    if template == "img2img" and source is None:
        raise BriefError("reworking an image needs the image to start from")
    kind = MediaKind.VIDEO if template == "video" else MediaKind.IMAGE
    with transaction.atomic():
        generation = Generation.objects.create(
            session=session, kind=kind, template=template, parameters=brief, source=source
        )
        generation.workflow = _build(session, template, brief, generation, catalog, warnings)
        generation.parameters = brief
        if reason := placement.refusal(generation.workflow):
            raise BriefError(reason)  # before anything is stored or sent: the transaction takes the row back
        generation.save(update_fields=["workflow", "uses_prompt", "parameters"])
        # First on commit: a server waiting costs more than a card arriving later.
        transaction.on_commit(lambda: dispatch.enqueue(generation))
        generation_started.send(sender=Generation, generation=generation, warnings=warnings, announce=announce)
    session.touch()
    return generation


def new_seed() -> int:
    return random.randint(0, 2**32 - 1)


def start_batch(
    session: Session, brief: dict, *, user, template: str = "auto", count: int = 1, fresh_seed: bool = False
) -> list[Generation]:
    """``count`` pictures of one brief, a job each (spread over the servers): the brief's seed and the next ones,
    or new random seeds with ``fresh_seed``. All start, or none."""
    if not BATCH_COUNT.lo <= count <= BATCH_COUNT.hi:
        raise BriefError(f"a brief makes {BATCH_COUNT.describe()} pictures at a time, not {count}")
    seed = brief.get("seed")
    if fresh_seed or not isinstance(seed, int) or isinstance(seed, bool):
        seeds = [new_seed() for _ in range(count)]
    else:
        seeds = [(seed + offset) % (MAX_SEED + 1) for offset in range(count)]
    with transaction.atomic():
        return [start_generation(session, {**brief, "seed": one}, user=user, template=template) for one in seeds]


def variation(generation: Generation, *, user) -> Generation:
    brief = {**generation.parameters, "seed": new_seed()}
    return start_generation(generation.session, brief, user=user, template=generation.template, source=generation)


def rework(generation: Generation, *, user) -> Generation:
    if not generation.outputs.filter(kind=MediaKind.IMAGE).exists():
        raise BriefError("only a finished image can be reworked")
    brief = {**generation.parameters, "seed": new_seed(), "media_kind": "image"}
    return start_generation(generation.session, brief, user=user, template="img2img", source=generation)


def reproduce(generation: Generation, *, user) -> Generation:
    """Same parameters and seed. ComfyUI may serve it from its cache; the outputs are still collected."""
    return start_generation(
        generation.session,
        dict(generation.parameters),
        user=user,
        template=generation.template,
        source=generation.source,
    )


def cancel(generation: Generation) -> bool:
    """Queued: cancelled at once. Running: the worker interrupts ComfyUI; a dead worker's job is cancelled here."""
    if generation.status == Generation.Status.QUEUED:
        done = generation.cancel()
    elif generation.status == Generation.Status.RUNNING:
        Generation.objects.filter(pk=generation.pk).update(cancel_requested=True)
        stale = generation.heartbeat_at and generation.heartbeat_at < timezone.now() - runner.STALE_AFTER
        done = generation.cancel() if stale else False
        if not done:
            generation.refresh_from_db()
            cards.push_card(generation)
            return True
    else:
        return False
    if done:
        runner.finish(generation)
    return done
