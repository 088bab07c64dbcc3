import time

from celery import shared_task
from django.conf import settings

from generations.services import placement, runner
from studio.errors import TransientError

EAGER_BACKOFF_FACTOR = 0.25


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.GENERATION_MAX_RETRIES,
    # A job may also wait out a ComfyUI restart (COMFYUI_RESTART_WINDOW) before it runs to its own limit.
    soft_time_limit=settings.GENERATION_TIME_LIMIT + settings.COMFYUI_RESTART_WINDOW + 30,
    time_limit=settings.GENERATION_TIME_LIMIT + settings.COMFYUI_RESTART_WINDOW + 60,
)
def run_generation(self, generation_id: int) -> str:
    try:
        outcome = runner.run(generation_id)
    except TransientError as exc:
        if self.request.retries >= self.max_retries:
            runner.give_up(generation_id, f"{exc.message} (gave up after {self.request.retries + 1} attempts)")
            return "failed"
        runner.requeue(generation_id, f"{exc.message} Retrying…")
        countdown = min(30, 2 ** (self.request.retries + 1))
        if self.request.is_eager:
            # In-process retries run at once (Celery ignores countdown there): a short pause still
            # lets a ComfyUI that is restarting come back. Only a pool thread waits, never a request.
            time.sleep(countdown * EAGER_BACKOFF_FACTOR)
        raise self.retry(exc=exc, countdown=countdown) from exc
    if outcome == runner.MOVED:
        run_generation.apply_async(args=[generation_id], queue=placement.queue_of(generation_id))
    elif outcome == runner.BUSY and not self.request.is_eager:
        # A redelivery (the worker that had it died) arrives while the heartbeat still looks fresh:
        # look again once it can be stale, so the job is taken over instead of dropped.
        routing = self.request.delivery_info or {}
        run_generation.apply_async(
            args=[generation_id],
            countdown=runner.STALE_AFTER.total_seconds() + 5,
            queue=routing.get("routing_key") or None,
        )
    return outcome
