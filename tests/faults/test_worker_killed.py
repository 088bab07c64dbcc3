"""A Celery worker killed with SIGKILL while a generation runs (out of memory, a crashed container).

Real `celery -A studio worker` processes on Redis and the test PostgreSQL database; the
generation runs against a slow fake ComfyUI. Whatever dies, the generation must end complete
(taken over: acks_late + reject_on_worker_lost + stale-heartbeat reclaim) or failed with a
reason, never stay 'running' with nobody working on it, and never be rendered twice.

The worker's Redis is a database of its own (FAULTS_REDIS_DB, default 11) so these workers
never take tasks from another test run sharing the server.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from generations.models import Generation, MediaOutput
from generations.services import dispatch, placement
from generations.services.runner import STALE_AFTER
from specialists.models import Conversation, Phase, Role
from studio.core.models import Session
from tests.faults.conftest import REPO, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

FAULTS_REDIS_DB = os.environ.get("FAULTS_REDIS_DB", "11")
# The longest a job may look alive after its worker died, plus the time to finish it.
TAKEOVER_WITHIN = STALE_AFTER.total_seconds() + 45
BRIEF = {
    "positive_prompt": "a lighthouse keeper's cat on the gallery rail, dusk, amber light",
    "negative_prompt": "blurry",
    "width": 512,
    "height": 512,
    "steps": 20,
    "cfg": 6.0,
    "sampler": "euler",
    "scheduler": "normal",
    "seed": 4711,
}


def _own_redis_url() -> str:
    parts = urllib.parse.urlsplit(settings.REDIS_URL)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{FAULTS_REDIS_DB}", parts.query, ""))


class Worker:
    def __init__(self, name: str, env: dict, log_dir: Path):
        self.name, self.env = name, env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        queues = ",".join(dispatch.worker_queues())
        argv = [sys.executable, "-m", "celery", "-A", "studio", "worker", "-Q", queues, "-c", "1", "-P", "prefork",
                "-n", f"{self.name}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "info"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(lambda: "ready." in self.tail() or self._exited(), 60, f"{self.name} to be ready")
        return self

    def _exited(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.tail()}")
        return False

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def pool_children(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def kill_everything(self) -> None:
        """The whole worker, main process and pool, at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill_everything()


@pytest.fixture
def workers(fake_comfyui, tmp_path, settings):
    """workers(name) -> a started Worker on the test database, Redis database FAULTS_REDIS_DB and the fake."""
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and a PostgreSQL DATABASE_URL: the worker is a separate process")
    import redis

    redis_url = _own_redis_url()
    redis.Redis.from_url(redis_url).flushdb()
    db = settings.DATABASES["default"]
    host = f"{db['USER'] or 'root'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{host}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "COMFYUI_URLS": ",".join(settings.COMFYUI_URLS),
        "COMFYUI_SHARES_GPU": settings.COMFYUI_SHARES_GPU,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "STUDIO_DATA_DIR": str(tmp_path / "worker-data"),
        "PYTHONUNBUFFERED": "1",
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(name, env, tmp_path).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    for worker in started:
        print(f"---- {worker.name} ----\n{worker.tail()}")
    redis.Redis.from_url(redis_url).flushdb()


def make_generation(user) -> Generation:
    from generations.services.brief import normalize_brief
    from generations.services.catalog import get_catalog
    from generations.workflows import TEMPLATES

    session = Session.objects.create(owner=user, title="Lighthouse cat")
    conversation = Conversation.objects.create(session=session, phase=Phase.GENERATING)
    brief, _ = normalize_brief(BRIEF, get_catalog())
    generation = Generation.objects.create(session=session, parameters=brief)
    generation.workflow = TEMPLATES["txt2img"](brief, prefix=f"fault{generation.pk}")
    generation.message = conversation.append_message(
        Role.SYSTEM, "", kind="generation", generation=generation
    )
    generation.server = settings.COMFYUI_URLS[0]
    generation.save()
    return generation


def send_to_worker(generation: Generation) -> None:
    """dispatch.enqueue's Celery call, through this module's own Redis database."""
    from generations.tasks import run_generation
    from studio.celery import app

    with app.connection_for_write(_own_redis_url()) as broker:
        run_generation.apply_async(args=[generation.pk], queue=placement.queue_for(0), connection=broker)


def settled(generation: Generation, timeout: float) -> Generation:
    def finished() -> bool:
        generation.refresh_from_db()
        return generation.is_finished

    try:
        wait_until(finished, timeout, "the generation to finish", interval=0.5)
    except AssertionError:
        raise AssertionError(
            f"generation {generation.pk} is still {generation.status} {timeout:.0f}s after its worker died "
            f"(heartbeat {generation.heartbeat_at}, error {generation.error!r})"
        ) from None
    return generation


def assert_taken_over(generation: Generation, fake) -> None:
    # Taken over means finished: a takeover that ends the job as failed lost the artist's picture.
    assert generation.status == Generation.Status.COMPLETE, f"{generation.status}: {generation.error}"
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert len(fake.prompts) == 1, "the prompt was submitted to ComfyUI again instead of being re-attached"


def start_slow_generation(alice, fake_comfyui) -> Generation:
    fake_comfyui.step_delay = 0.25  # 20 steps: ~5 s on ComfyUI
    generation = make_generation(alice)
    send_to_worker(generation)
    wait_until(lambda: fake_comfyui.running_prompt_id() is not None, 30, "ComfyUI to start the prompt")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING
    return generation


def test_a_killed_pool_process_hands_the_generation_back_and_it_finishes(workers, alice, fake_comfyui):
    worker = workers("studio-a")
    generation = start_slow_generation(alice, fake_comfyui)
    [child] = worker.pool_children()
    os.kill(child, signal.SIGKILL)  # the process running the task dies; the worker's main process lives

    generation = settled(generation, TAKEOVER_WITHIN)
    assert_taken_over(generation, fake_comfyui)


def test_a_killed_worker_is_replaced_and_the_generation_still_finishes(workers, alice, fake_comfyui):
    first = workers("studio-a")
    generation = start_slow_generation(alice, fake_comfyui)
    first.kill_everything()
    time.sleep(0.5)
    workers("studio-b")  # what a supervisor (systemd, docker restart) does

    generation = settled(generation, TAKEOVER_WITHIN)
    assert_taken_over(generation, fake_comfyui)
