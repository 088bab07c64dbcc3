"""What a Celery worker does when it starts: warm up before forking, recover jobs whose messages were lost."""

from generations.models import Generation
from generations.services import dispatch, placement, runner, warm
from generations.tasks import run_generation


def warm_up_before_forking(sender=None, **kwargs) -> None:
    warm.warm_up()


def recover_on_worker_start(sender=None, **kwargs) -> None:
    """Jobs whose messages were lost (broker flushed, studio restarted mid-enqueue) get a new one."""
    dispatch.recover_orphans()
    # A job whose worker died moments ago still looks alive, and its message only comes back after the
    # broker's visibility timeout (an hour): look again once its heartbeat can be stale (BUSY re-checks).
    for generation in Generation.objects.filter(status=Generation.Status.RUNNING).only("pk", "server"):
        index = placement.server_index(generation.server) or 0
        run_generation.apply_async(
            args=[generation.pk], countdown=runner.STALE_AFTER.total_seconds() + 5, queue=placement.queue_for(index)
        )
