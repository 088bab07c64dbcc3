"""Handing generations to workers: queues per ComfyUI server, the in-process pool, orphan recovery."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone

from generations.models import Generation
from generations.services import dispatch
from generations.signals import generation_finished
from studio.celery import app


@pytest.fixture
def one_worker_pool(monkeypatch):
    """The in-process pool with one thread, drained before the test's database is flushed.

    The in-memory SQLite test database (shared cache) fails concurrent writes at once with
    'table is locked' instead of waiting, so the DB is only read once the pool is idle.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generation")
    monkeypatch.setattr(dispatch, "_executor", pool)
    yield pool
    wait_pool_idle()
    pool.shutdown(wait=True)


def wait_pool_idle(timeout=20) -> None:
    deadline = time.monotonic() + timeout
    while dispatch._local_pending:
        assert time.monotonic() < deadline, f"the pool still runs {dispatch._local_pending}"
        time.sleep(0.05)


def status_of(generation) -> str:
    generation.refresh_from_db()
    return generation.status


def test_a_worker_consumes_one_queue_per_comfyui_server(settings):
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188", "http://gpu-c:8188"]
    assert dispatch.worker_queues() == ["studio", "comfyui.0", "comfyui.1", "comfyui.2"]


def test_with_celery_the_generation_goes_to_its_servers_queue(settings, make_generation, monkeypatch):
    if settings.REDIS_URL:
        pytest.skip("reads the in-memory broker; with REDIS_URL the worker test covers the real queue")
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188"]
    settings.GENERATION_JOBS_IN_PROCESS = False
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    busy = make_generation()
    Generation.objects.filter(pk=busy.pk).update(server="http://gpu-a:8188", status="running")
    generation = make_generation()
    dispatch.enqueue(generation)
    generation.refresh_from_db()
    assert generation.server == "http://gpu-b:8188" and generation.status == Generation.Status.QUEUED
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("comfyui.1")
        message = queue.get(timeout=2)
        message.ack()
        queue.close()
    assert message.headers["task"] == "generations.tasks.run_generation"
    assert message.headers["argsrepr"] == repr([generation.pk])


@pytest.mark.django_db(transaction=True)
def test_in_process_the_request_never_waits_for_the_generation(
    make_generation, fake_comfyui, settings, one_worker_pool
):
    settings.GENERATION_JOBS_IN_PROCESS = True
    fake_comfyui.step_delay = 0.05
    generation = make_generation(steps=30)
    threads = []

    def record(sender, generation, **kwargs):
        threads.append(threading.current_thread().name)

    generation_finished.connect(record)
    try:
        dispatch.enqueue(generation)
        # Thirty steps take the fake 1.5 s: had enqueue run the job, it would have finished by now.
        assert threads == [] and status_of(generation) != Generation.Status.COMPLETE
        assert generation.pk in dispatch._local_pending
        wait_pool_idle()
    finally:
        generation_finished.disconnect(record)
    assert status_of(generation) == Generation.Status.COMPLETE
    assert threads and threads[0].startswith("generation")


@pytest.mark.django_db(transaction=True)
def test_orphans_are_picked_up_again_but_live_jobs_are_left_alone(
    make_generation, fake_comfyui, settings, one_worker_pool
):
    settings.GENERATION_JOBS_IN_PROCESS = True
    forgotten = make_generation()  # queued, but no worker has it (the studio restarted)
    dead = make_generation()
    alive = make_generation()
    Generation.objects.filter(pk=dead.pk).update(
        status="running", server=fake_comfyui.url, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    Generation.objects.filter(pk=alive.pk).update(
        status="running", server=fake_comfyui.url, heartbeat_at=timezone.now()
    )
    recovered = dispatch.recover_orphans()
    assert sorted(recovered) == sorted([forgotten.pk, dead.pk])
    wait_pool_idle()
    assert status_of(forgotten) == status_of(dead) == Generation.Status.COMPLETE
    assert status_of(alive) == Generation.Status.RUNNING
    prefixes = {p["prompt"]["7"]["inputs"]["filename_prefix"] for p in fake_comfyui.prompts}
    assert prefixes == {f"t{forgotten.pk}", f"t{dead.pk}"}


@pytest.mark.django_db(transaction=True)
def test_recovery_does_not_double_a_job_already_in_the_local_pool(
    make_generation, fake_comfyui, settings, one_worker_pool
):
    settings.GENERATION_JOBS_IN_PROCESS = True
    fake_comfyui.step_delay = 0.05
    generation = make_generation(steps=20)
    # Hold the only pool thread so the generation stays queued while recovery looks at it.
    gate = threading.Event()
    one_worker_pool.submit(gate.wait, 10)
    dispatch.enqueue(generation)
    try:
        assert generation.pk not in dispatch.recover_orphans()
    finally:
        gate.set()
    wait_pool_idle()
    assert status_of(generation) == Generation.Status.COMPLETE
    assert len(fake_comfyui.prompts) == 1
