"""Hand generations to a worker.

With Redis, Celery carries them: one queue per ComfyUI server (comfyui.<n>, n = index in
settings.COMFYUI_URLS), the server with the least work left chosen at enqueue time; a worker consumes
`worker_queues()`. Without it, the task runs in this process's thread pool, never on the event
loop and never inside the request.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db.models import F, FloatField, Q, Sum, Value
from django.utils import timezone

from generations.models import Generation
from generations.services.runner import STALE_AFTER
from generations.tasks import run_generation

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
# Ids handed to this process's pool and not finished yet (the in-process mode only).
_local_pending: set[int] = set()


def queue_for(index: int) -> str:
    return f"comfyui.{index}"


def worker_queues() -> list[str]:
    """Queues a worker consumes: `celery -A studio worker -Q <these, comma separated>`."""
    return ["studio"] + [queue_for(i) for i in range(len(settings.COMFYUI_URLS))]


def choose_server() -> tuple[int, str]:
    """The configured ComfyUI with the least work left (first one on ties): its queued and running
    generations, a running one counted by the share of its steps still to go.

    Counting jobs alone gave an extra job to whichever server happened to finish one first, though it
    was only a fraction of a job ahead: 24 jobs on 4 servers went 7/6/6/5 instead of 6 each, and the
    run took a job period longer (PERFORMANCE.md, queue scaling).
    """
    servers = settings.COMFYUI_URLS
    left = dict(
        Generation.objects.filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING], server__in=servers)
        .values_list("server")
        .annotate(left=Sum(Value(1.0) - F("progress"), output_field=FloatField()))
    )
    index = min(range(len(servers)), key=lambda i: (left.get(servers[i], 0.0), i))
    return index, servers[index]


def server_index(server: str) -> int | None:
    try:
        return settings.COMFYUI_URLS.index(server)
    except ValueError:
        return None


def _local_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            # Two per server: while one job's outputs are fetched and stored, the next already waits in that
            # ComfyUI's queue, so the server never idles between jobs (with one, 4 servers ran at 2.6x of 1).
            workers = 2 * len(settings.COMFYUI_URLS)
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generation")
        return _executor


def _run_locally(generation_id: int) -> None:
    try:
        run_generation.apply(args=[generation_id])
    except Exception:  # the pool swallows exceptions: at least log them
        log.exception("generation %s failed in the local worker", generation_id)
    finally:
        _local_pending.discard(generation_id)


def enqueue(generation: Generation) -> None:
    """Send the generation to a worker. A retry or a re-attach keeps the server it already uses."""
    index = server_index(generation.server) if generation.prompt_id else None
    if index is None:
        index, server = choose_server()
        Generation.objects.filter(pk=generation.pk).update(server=server)
        generation.server = server
    if settings.GENERATION_JOBS_IN_PROCESS:
        _local_pending.add(generation.pk)
        _local_executor().submit(_run_locally, generation.pk)
    else:
        run_generation.apply_async(args=[generation.pk], queue=queue_for(index))


def recover_at_start() -> list[int]:
    """In-process jobs have no worker whose start-up recovers them: the serving process does when it starts.

    A job left 'running' by a killed studio is nobody's (only the serving process runs in-process jobs,
    and this one's own are in its pool), so it is taken back at once instead of after its heartbeat goes
    stale.
    """
    if not settings.GENERATION_JOBS_IN_PROCESS:
        return []
    orphaned = Generation.objects.filter(status=Generation.Status.RUNNING).exclude(pk__in=list(_local_pending))
    for generation in orphaned:
        # Through the status's own transition: it keeps prompt_id, so the job re-attaches to ComfyUI.
        generation.requeue("The studio restarted while this ran; picking it up again.")
    return recover_orphans()


def recover_orphans(*, session_id: int | None = None) -> list[int]:
    """Enqueue again generations that nobody works on: queued ones without a worker in this process
    (in-process mode: the studio restarted), and 'running' ones whose worker stopped beating.

    Safe to call any time: a duplicate delivery finds the generation claimed or finished and does nothing.
    """
    stale = Q(status=Generation.Status.RUNNING, heartbeat_at__lt=timezone.now() - STALE_AFTER)
    queued = Q(status=Generation.Status.QUEUED)
    orphans = Generation.objects.filter(queued | stale)
    if session_id is not None:
        orphans = orphans.filter(session_id=session_id)
    recovered = []
    for generation in orphans.order_by("created_at"):
        if settings.GENERATION_JOBS_IN_PROCESS and generation.pk in _local_pending:
            continue
        enqueue(generation)
        recovered.append(generation.pk)
    return recovered
