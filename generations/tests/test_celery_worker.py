"""The generation task through a real Celery worker process on Redis (the scaled set-up)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from generations.models import Generation, MediaOutput
from generations.services import dispatch

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_worker_process(fake_comfyui, tmp_path):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and a PostgreSQL DATABASE_URL: the worker is a separate process")
    db = settings.DATABASES["default"]
    database_url = f"postgres://{db['USER'] or 'root'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "COMFYUI_URLS": ",".join(settings.COMFYUI_URLS),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STUDIO_DATA_DIR": str(tmp_path / "worker-data"),
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed at teardown
    queues = ",".join(dispatch.worker_queues())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "studio",
            "worker",
            "-Q",
            queues,
            "-c",
            "1",
            "-P",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    print((tmp_path / "worker.log").read_text()[-3000:])


def wait_for(generation, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.status in statuses:
            return generation
        time.sleep(0.2)
    raise AssertionError(f"generation {generation.pk} stayed {generation.status}")


def test_a_worker_process_runs_the_generation(celery_worker_process, make_generation, fake_comfyui):
    generation = make_generation()
    dispatch.enqueue(generation)
    generation = wait_for(generation, Generation.FINISHED)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert len(fake_comfyui.prompts) == 1
