"""Push a generation's card (and preview frames) to the browsers on its session."""

import base64
import logging
import math
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from generations.models import Generation, MediaKind
from studio.core.services.broadcast import push_html_sync

log = logging.getLogger(__name__)

CARD_TEMPLATE = "generations/_generation_card.html"
PROGRESS_TEMPLATE = "generations/_progress.html"
PREVIEW_TEMPLATE = "generations/_preview.html"


def _push(session_id: int, html: str) -> None:
    # Browsers are told best-effort: the database holds the truth and a reload shows it, so a
    # channel-layer hiccup must never fail the generation itself.
    try:
        push_html_sync(session_id, html)
    except Exception:
        log.warning("could not push a generation update to session %s", session_id, exc_info=True)


def remaining_seconds(elapsed: float, steps_done: int, steps_left: int) -> int | None:
    """Seconds still to go at the rate so far: the one estimate behind every ETA the card shows."""
    if steps_done <= 0:
        return None
    return max(0, round(elapsed / steps_done * steps_left))


def eta_seconds(generation: Generation) -> int | None:
    """From the start time (no live step rate at hand): a card rendered for a page load or a reconnect."""
    if generation.status != Generation.Status.RUNNING or not generation.started_at:
        return None
    elapsed = (timezone.now() - generation.started_at).total_seconds()
    return remaining_seconds(elapsed, generation.progress_value, generation.progress_max - generation.progress_value)


def card_context(generation: Generation, *, oob: bool = False, eta: int | None = None) -> dict:
    outputs = list(generation.outputs.all())
    return {
        "generation": generation,
        "outputs": outputs,
        # img2img starts from a still picture: a video or an animation offers no Rework.
        "can_rework": generation.status == Generation.Status.COMPLETE
        and any(output.kind == MediaKind.IMAGE for output in outputs),
        "eta": eta if eta is not None else eta_seconds(generation),
        "oob": oob,
        "restart_window": f"{settings.COMFYUI_RESTART_WINDOW:g}",
        # Which server runs it matters only when there is more than one.
        "server_label": server_label(generation.server) if len(settings.COMFYUI_URLS) > 1 else "",
        "queue_place": queue_place(generation),
        "preview_ratio": preview_ratio(generation),
    }


def preview_ratio(generation: Generation) -> tuple[int, int]:
    """The result's aspect ratio in small numbers (1216×832 → 19×13): the live preview's frame."""
    width, height = generation.parameters.get("width"), generation.parameters.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return (1, 1)
    common = math.gcd(width, height)
    return (width // common, height // common)


# Queued cards whose place in line is redrawn when a job ahead of them ends (the rest wait for their turn).
QUEUE_CARDS_PUSHED = 20


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _unfinished_before(generation: Generation):
    ahead = Generation.objects.filter(
        status__in=(Generation.Status.QUEUED, Generation.Status.RUNNING), pk__lt=generation.pk
    )
    return ahead.filter(server=generation.server) if generation.server else ahead


def queue_place(generation: Generation) -> str:
    """"2nd" while one job is ahead of this queued one on its server; "" when it is next or not waiting."""
    if generation.status != Generation.Status.QUEUED:
        return ""
    ahead = _unfinished_before(generation).count()
    return _ordinal(ahead + 1) if ahead else ""


def push_queue_places(server: str) -> None:
    """A job on ``server`` ended: the queued cards behind it move up a place."""
    waiting = Generation.objects.filter(status=Generation.Status.QUEUED)
    if server:
        waiting = waiting.filter(server=server)
    for generation in waiting.order_by("pk")[:QUEUE_CARDS_PUSHED]:
        push_progress(generation)


def server_label(server: str) -> str:
    """gpu-box:8188 for http://gpu-box:8188: how an artist names their machines."""
    return urlsplit(server).netloc or server


def render_card(generation: Generation, *, oob: bool = False) -> str:
    return render_to_string(CARD_TEMPLATE, card_context(generation, oob=oob))


def push_card(generation: Generation) -> None:
    generation.refresh_from_db()
    _push(generation.session_id, render_card(generation, oob=True))


def push_progress(generation: Generation, *, eta: int | None = None) -> None:
    """Only the bar and step count, so a preview frame already shown stays in place.

    ``eta`` comes from the runner's step rate; without it the card estimates from the start time.
    """
    context = {**card_context(generation, eta=eta), "progress_oob": True}
    _push(generation.session_id, render_to_string(PROGRESS_TEMPLATE, context))


def push_preview(generation: Generation, image: bytes, mime: str) -> None:
    data_url = f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    html = render_to_string(PREVIEW_TEMPLATE, {"generation": generation, "data_url": data_url})
    _push(generation.session_id, html)
