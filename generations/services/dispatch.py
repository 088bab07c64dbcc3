"""Hand generations to a worker.

With Redis, Celery carries them: one queue per ComfyUI server (comfyui.<n>, n = index in
settings.COMFYUI_URLS), the server chosen at enqueue time (placement.py); a worker consumes
`worker_queues()`. Without it, the task runs in this process's thread pool, never on the event
loop and never inside the request.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generations.models import Generation
from generations.services.placement import choose_server, queue_for, server_index
from generations.services.runner import STALE_AFTER
from generations.tasks import run_generation

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
# Ids handed to this process's pool and not finished yet (the in-process mode only).
_local_pending: set[int] = set()


def worker_queues() -> list[str]:
    """Queues a worker consumes: `celery -A studio worker -Q <these, comma separated>`."""
    return ["studio"] + [queue_for(i) for i in range(len(settings.COMFYUI_URLS))]


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
        index, server = choose_server(generation.workflow)
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
