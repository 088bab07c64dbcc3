"""Run one generation on ComfyUI: claim, submit (or re-attach), follow progress, store outputs, settle.

Every way out leaves the generation complete, failed or cancelled, or queued again for a retry of
a transient failure: never 'running' with nobody working on it. A retry keeps the prompt_id and
client_id of the previous attempt, so a prompt that ComfyUI still runs (or already finished) is
followed or collected instead of being submitted twice.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from generations.clients.comfyui import ComfyUIClient, ComfyUIUnreachable
from generations.clients.comfyui_events import (
    Executed,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    OutputFile,
    Preview,
    Progress,
    output_files,
    parse_json,
)
from generations.models import Generation, MediaKind, MediaOutput
from generations.services import cards, gpu, media, placement, uploads
from generations.signals import generation_finished, gpu_wanted
from studio.core.services.database import drop_broken_connections
from studio.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

EVENT_WAIT = 0.5
PUSH_INTERVAL = 0.2  # progress: at most ~5 DB writes and pushes a second
PREVIEW_INTERVAL = 0.5
CANCEL_POLL = 0.5
HEARTBEAT_INTERVAL = 5.0
RECONNECT_POLL = 1.0  # how often a job whose ComfyUI went away asks whether it is back
STALE_AFTER = timedelta(seconds=60)

BUSY = "already running elsewhere"
MOVED = "moved to another server"
NOT_CLAIMED = "not claimed"
WEBSOCKET_OUTPUT = "SaveImageWebsocket"


def finish(generation: Generation) -> None:
    generation.refresh_from_db()
    cards.push_card(generation)
    cards.push_queue_places(generation.server)
    generation_finished.send(sender=Generation, generation=generation)


def reclaim_if_stale(generation: Generation) -> bool:
    """A 'running' job whose worker stopped beating (killed) goes back to the queue."""
    cutoff = timezone.now() - STALE_AFTER
    return bool(
        Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Generation.Status.QUEUED, error="The worker running this stopped; picking it up again."
        )
    )


def _drop_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


def run(generation_id: int) -> str:
    # Worker threads and processes reuse connections across tasks.
    drop_broken_connections()
    try:
        return _run(generation_id)
    except DatabaseError as exc:
        # The database went away under us (restart, failover): the job is not lost, the task retries it.
        _drop_connection()
        raise TransientError(f"The studio lost its database connection while running the generation ({exc}).") from exc
    finally:
        drop_broken_connections()


def _run(generation_id: int) -> str:
    generation = Generation.objects.select_related("session").filter(pk=generation_id).first()
    if generation is None or generation.is_finished:
        return "nothing to do"
    if generation.status == Generation.Status.RUNNING and not reclaim_if_stale(generation):
        return BUSY
    resuming = bool(generation.prompt_id)
    server = generation.server or settings.COMFYUI_URLS[0]
    if not resuming and (other := _elsewhere_if_down(generation, server)):
        if not settings.GENERATION_JOBS_IN_PROCESS:
            # Through the other server's queue, which keeps that server's jobs one after the other.
            return MOVED if _move(generation, other) else NOT_CLAIMED
        server = other
    client_id = generation.client_id if resuming and generation.client_id else uuid.uuid4().hex
    if not generation.claim(server, client_id):
        generation.refresh_from_db()
        if generation.cancel_requested and generation.cancel():
            finish(generation)
        return NOT_CLAIMED
    client = ComfyUIClient(server)
    try:
        while True:
            try:
                _attach_and_follow(client, generation, client_id, resuming=resuming)
                break
            except ComfyUIUnreachable as exc:
                back_on = _wait_for_comfyui(client, generation, exc)
                if back_on is None:
                    break
                if back_on != client.base_url:
                    client.close()
                    client = ComfyUIClient(back_on)
                # The prompt is followed if ComfyUI still has it, collected if it finished, else sent (again).
                resuming = bool(generation.prompt_id)
    except PermanentError as exc:
        generation.fail(exc.message)
    except (TransientError, DatabaseError):
        raise  # the task decides: requeue and retry, or give up
    except SoftTimeLimitExceeded:
        _stop_quietly(client, generation.prompt_id)
        generation.fail(_time_limit_message())
    except Exception as exc:  # a bug must not leave the card spinning for ever
        log.exception("generation %s crashed", generation.pk)
        _stop_quietly(client, generation.prompt_id)
        generation.fail(f"The studio hit an unexpected error while running this generation ({exc}). Try again.")
    finally:
        client.close()
    finish(generation)
    return generation.status


def _attach_and_follow(client: ComfyUIClient, generation: Generation, client_id: str, *, resuming: bool) -> None:
    with client.events(client_id) as events:
        if not (resuming and _reattach(client, generation)):
            _prepare_inputs(client, generation)
            _make_room_on_the_gpu(generation, generation.server)
            prompt_id = client.submit(generation.workflow, client_id)
            Generation.objects.filter(pk=generation.pk).update(prompt_id=prompt_id)
            generation.prompt_id = prompt_id
        # Only now: rendering and sending the card before the submit kept ComfyUI waiting for it.
        cards.push_card(generation)
        if not generation.is_finished:
            _follow(client, events, generation)


def unreachable_for_too_long(server: str) -> str:
    return (
        f"ComfyUI at {server} stopped answering and was not back within {settings.COMFYUI_RESTART_WINDOW:g} s "
        "(COMFYUI_RESTART_WINDOW). Start it again (python main.py --listen), then generate again."
    )


def _elsewhere_if_down(generation: Generation, server: str) -> str | None:
    """A server that answers and can run the job, when its own does not answer and there are others."""
    if len(settings.COMFYUI_URLS) < 2 or placement.is_up(server):
        return None
    return placement.alternative(generation.workflow, server)


def _move(generation: Generation, server: str) -> bool:
    gone = generation.server
    moved = generation.move_to(server, f"ComfyUI at {gone} stopped answering; this job moved to {server}.")
    if moved:
        log.info("generation %s: moved from %s to %s", generation.pk, gone, server)
        cards.push_card(generation)
    return moved


def _wait_for_comfyui(client: ComfyUIClient, generation: Generation, error: ComfyUIUnreachable) -> str | None:
    """Ride out a ComfyUI restart: keep the job (running, beating) until the server answers again, or move it
    to another server that answers and can run it.

    The server to go on with (the same one, back; or the one the job moved to), or None when the job ended
    meanwhile: cancelled by the artist, or failed after COMFYUI_RESTART_WINDOW seconds of silence.
    """
    log.info("generation %s: ComfyUI at %s went away (%s); waiting", generation.pk, client.base_url, error.detail)
    deadline = time.monotonic() + settings.COMFYUI_RESTART_WINDOW
    last_beat = time.monotonic()
    first = True
    while True:
        generation.refresh_from_db(fields=["cancel_requested", "status"])
        if generation.cancel_requested or generation.is_finished:
            # Nothing to interrupt on a server that does not answer; a restarted ComfyUI has forgotten the prompt.
            generation.cancel()
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            generation.fail(unreachable_for_too_long(client.base_url))
            return None
        if time.monotonic() - last_beat > HEARTBEAT_INTERVAL:
            last_beat = time.monotonic()
            Generation.objects.filter(pk=generation.pk).update(heartbeat_at=timezone.now())
        if not first:
            time.sleep(min(RECONNECT_POLL, remaining))
        first = False
        try:
            client.system_stats()
        except TransientError:
            # Not a dropped socket: the server itself is away. Another that can run the job takes it at once.
            placement.mark_down(client.base_url)
            if (other := _elsewhere_if_down(generation, client.base_url)) and _move(generation, other):
                return other
            if generation.lose_server():
                cards.push_card(generation)
            continue
        except PermanentError:
            pass  # it answers, if oddly: let the re-attach find out more
        if generation.regain_server():
            cards.push_card(generation)
        return client.base_url


def _time_limit_message() -> str:
    return (
        f"ComfyUI did not finish within {settings.GENERATION_TIME_LIMIT} s, so the studio stopped it. "
        "Check the ComfyUI console, or raise GENERATION_TIME_LIMIT for long videos."
    )


def _stop_quietly(client: ComfyUIClient, prompt_id: str) -> None:
    if not prompt_id:
        return
    try:
        client.delete_queued([prompt_id])
        client.interrupt(prompt_id)
    except (TransientError, PermanentError):
        pass


def _queued_prompt_ids(client: ComfyUIClient) -> set[str]:
    queue = client.queue() or {}
    entries = list(queue.get("queue_running") or []) + list(queue.get("queue_pending") or [])
    return {str(entry[1]) for entry in entries if isinstance(entry, list | tuple) and len(entry) > 1}


def _reattach(client: ComfyUIClient, generation: Generation) -> bool:
    """A previous attempt submitted this prompt. True if it is still on ComfyUI (follow it) or settled here.

    The queue is asked before the history: a prompt that finishes in between is then in the history.
    """
    if generation.prompt_id in _queued_prompt_ids(client):
        return True
    record = client.history(generation.prompt_id)
    if record is None:
        return False  # ComfyUI restarted and forgot it: submit again
    _settle_from_history(client, generation, record)
    return True


def _settle_from_history(client: ComfyUIClient, generation: Generation, record: dict) -> None:
    status = record.get("status") or {}
    for message in status.get("messages") or []:
        if not isinstance(message, list | tuple) or len(message) != 2 or not isinstance(message[1], dict):
            continue
        event = parse_json({"type": message[0], "data": message[1]})
        if isinstance(event, ExecutionError):
            generation.fail(event.describe())
            return
        if isinstance(event, ExecutionInterrupted):
            _interrupted(generation)
            return
    _collect_from_history(client, generation, record)
    _complete_if_any_output(client, generation, record)


def _make_room_on_the_gpu(generation: Generation, server: str) -> None:
    if not gpu.shares_gpu(server):
        return
    # Robust: a model that cannot be unloaded must not cost the artist the picture.
    for receiver, outcome in gpu_wanted.send_robust(sender=Generation, generation=generation, server=server):
        if isinstance(outcome, Exception):
            log.warning("freeing the GPU before generation %s failed in %s: %s", generation.pk, receiver, outcome)
    gpu.mark_held(server)


def _prepare_inputs(client: ComfyUIClient, generation: Generation) -> None:
    """img2img starts from a stored output: upload it to this ComfyUI and point LoadImage at it."""
    if generation.template != "img2img" or generation.source_id is None:
        return
    source = MediaOutput.objects.filter(generation_id=generation.source_id, kind="image").first()
    if source is None:
        raise PermanentError("The image to rework is gone; generate from the brief instead.")
    # Under the owner's own unguessable folder and name: the input folder is shared by everyone on this ComfyUI.
    name = client.upload_image(
        media.read_bytes(source),
        uploads.file_name(source.pk),
        subfolder=uploads.user_folder(generation.session.owner_id),
    )
    workflow = generation.workflow
    for node in workflow.values():
        if node.get("class_type") == "LoadImage":
            node["inputs"]["image"] = name
    Generation.objects.filter(pk=generation.pk).update(workflow=workflow)


def _save_files(client: ComfyUIClient, generation: Generation, files, *, previews: bool = False) -> bool:
    """Store the images and videos among ``files``; a preview (type temp) only when ``previews`` asks for it."""
    saved = False
    for file in files:
        if file.kind not in ("image", "video") or media.already_saved(generation, file):
            continue
        if file.type == "temp" and not previews:
            continue
        data, content_type = client.view(file.filename, file.subfolder, file.type)
        saved = _store(generation, file, data, content_type) or saved
    return saved


def _store(generation: Generation, file: OutputFile, data: bytes, content_type: str) -> bool:
    try:
        return media.save_output(generation, file, data, content_type) is not None
    except media.NotMedia as exc:
        raise PermanentError(
            f"ComfyUI sent {file.filename} as {content_type or 'an unnamed type'}, but it is {exc}; "
            "the studio stores only images and videos, so it was not kept. Check the workflow's output node."
        ) from exc


def _collect_from_history(
    client: ComfyUIClient, generation: Generation, record: dict | None = None, *, previews: bool = False
) -> dict:
    # Cached nodes and missed websocket messages still leave their outputs in /history.
    if record is None:
        record = client.history(generation.prompt_id) or {}
    for node, output in (record.get("outputs") or {}).items():
        if isinstance(output, dict):
            _save_files(client, generation, output_files(node, output), previews=previews)
    return record


def _complete_if_any_output(client: ComfyUIClient, generation: Generation, record: dict | None = None) -> None:
    if not generation.outputs.exists():
        # A workflow that only previews (PreviewImage): its previews are the result.
        _collect_from_history(client, generation, record, previews=True)
    kinds = set(generation.outputs.values_list("kind", flat=True))
    if not kinds:
        generation.fail(NO_OUTPUT)
    elif generation.complete(kind=MediaKind.VIDEO if MediaKind.VIDEO in kinds else MediaKind.IMAGE):
        log.info("generation %s complete with %s", generation.pk, ", ".join(sorted(kinds)))


NO_OUTPUT = (
    "ComfyUI finished without producing any image or video. Check that the workflow ends in an output node "
    "(Save Image, Preview Image, Save Video, Save Animated WEBP…)."
)


def _websocket_output(generation: Generation, node: str | None, index: int) -> OutputFile | None:
    """SaveImageWebsocket sends its images as binary frames, not files: the frames are its output."""
    if node is None or (generation.workflow.get(node) or {}).get("class_type") != WEBSOCKET_OUTPUT:
        return None
    return OutputFile(node=node, filename=f"websocket_{node}_{index:05}", subfolder="", type="websocket", kind="image")


def _interrupted(generation: Generation) -> None:
    generation.refresh_from_db(fields=["cancel_requested"])
    if generation.cancel_requested:
        generation.cancel()
    else:
        generation.fail("ComfyUI interrupted the run (someone pressed Cancel in ComfyUI?). Generate again.")


@dataclass
class StepClock:
    """Step rate of the sampler now running, for an ETA that ignores model loading time."""

    node: str | None = None
    first_value: int = 0
    first_at: float = 0.0
    samples: list = field(default_factory=list)

    def eta(self, event: Progress, now: float) -> int | None:
        if event.node != self.node or event.value < self.first_value:
            self.node, self.first_value, self.first_at = event.node, event.value, now
            return None
        return cards.remaining_seconds(now - self.first_at, event.value - self.first_value, event.max - event.value)


def _follow(client: ComfyUIClient, events, generation: Generation) -> None:
    prompt_id = generation.prompt_id
    deadline = time.monotonic() + settings.GENERATION_TIME_LIMIT
    last_push = last_preview = last_poll = 0.0
    last_beat = time.monotonic()
    clock = StepClock()
    started_running = False
    running_node: str | None = None
    websocket_images = 0
    while True:
        now = time.monotonic()
        if now > deadline:
            _stop_quietly(client, prompt_id)
            generation.fail(_time_limit_message())
            return
        if now - last_beat > HEARTBEAT_INTERVAL:
            last_beat = now
            Generation.objects.filter(pk=generation.pk).update(heartbeat_at=timezone.now())
        if now - last_poll > CANCEL_POLL:
            last_poll = now
            generation.refresh_from_db(fields=["cancel_requested"])
        if generation.cancel_requested:
            if not started_running:
                client.delete_queued([prompt_id])
            client.interrupt(prompt_id)  # only acts if it is the running prompt, so also after it just started
            generation.cancel()
            return
        event = events.next(timeout=EVENT_WAIT)
        if event is None:
            continue
        if getattr(event, "prompt_id", prompt_id) not in (prompt_id, None):
            continue
        now = time.monotonic()
        if isinstance(event, Progress):
            started_running = True
            eta = clock.eta(event, now)
            if now - last_push >= PUSH_INTERVAL or event.value == event.max:
                last_push = last_beat = now
                generation.set_progress(event.value, event.max)
                cards.push_progress(generation, eta=eta)
        elif isinstance(event, Preview):
            if file := _websocket_output(generation, event.node or running_node, websocket_images):
                websocket_images += 1
                if _store(generation, file, event.image, event.mime):
                    cards.push_card(generation)
            elif now - last_preview >= PREVIEW_INTERVAL:
                last_preview = now
                cards.push_preview(generation, event.image, event.mime)
        elif isinstance(event, Executed):
            if _save_files(client, generation, event.files):
                cards.push_card(generation)
        elif isinstance(event, ExecutionError):
            generation.fail(event.describe())
            return
        elif isinstance(event, ExecutionInterrupted):
            _interrupted(generation)
            return
        elif isinstance(event, Executing):
            started_running = True
            running_node = event.node
            if event.node is None:
                _complete_if_any_output(client, generation, _collect_from_history(client, generation))
                return


def _settle_with_db_retries(action, attempts: int = 3):
    """Recording the outcome must survive a database blip (the error that got us here may be one)."""
    for attempt in range(attempts):
        try:
            return action()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            _drop_connection()
            time.sleep(0.5 * (attempt + 1))


def requeue(generation_id: int, reason: str) -> None:
    """running -> queued for a retry; prompt_id and client_id stay so the retry can re-attach."""
    _settle_with_db_retries(lambda: _requeue(generation_id, reason))


def _requeue(generation_id: int, reason: str) -> None:
    generation = Generation.objects.get(pk=generation_id)
    if generation.requeue(reason):
        cards.push_card(generation)


def give_up(generation_id: int, reason: str) -> None:
    _settle_with_db_retries(lambda: _give_up(generation_id, reason))


def _give_up(generation_id: int, reason: str) -> None:
    """The last retry failed too. A prompt ComfyUI may still hold is stopped (best effort) before failing."""
    generation = Generation.objects.get(pk=generation_id)
    if generation.prompt_id and generation.server:
        with ComfyUIClient(generation.server) as client:
            _stop_quietly(client, generation.prompt_id)
    if generation.fail(reason):
        finish(generation)
