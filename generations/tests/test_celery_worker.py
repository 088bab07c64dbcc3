"""The generation task through a real Celery worker process on Redis (the scaled set-up)."""

import time

import pytest

from generations.models import Generation, MediaOutput
from generations.services import dispatch

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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


def test_a_worker_rides_out_a_comfyui_restart_and_finishes_the_job(
    celery_worker_process, make_generation, fake_comfyui
):
    from tests.fakes.comfyui import FakeComfyUI

    fake_comfyui.step_delay = 0.05
    generation = make_generation(steps=40)
    dispatch.enqueue(generation)
    deadline = time.monotonic() + 60
    while fake_comfyui.running_prompt_id() is None:
        assert time.monotonic() < deadline, "the worker never started the prompt"
        time.sleep(0.05)
    fake_comfyui.stop()  # everything ComfyUI held is gone, as in a restart
    time.sleep(5)
    restarted = FakeComfyUI(port=fake_comfyui.port, step_delay=0.005).start()
    try:
        generation = wait_for(generation, Generation.FINISHED)
        assert generation.status == Generation.Status.COMPLETE, generation.error
        assert MediaOutput.objects.filter(generation=generation).count() == 1
        assert [prompt["prompt_id"] for prompt in restarted.prompts] == [generation.prompt_id]
        assert generation.attempts == 1
    finally:
        restarted.stop()


def test_a_job_placed_on_a_server_that_stopped_moves_to_one_that_can_run_it(
    comfyui_farm, celery_worker_factory, make_generation
):
    from generations.services import placement
    from generations.tasks import run_generation

    a, b = comfyui_farm(["sd_xl_base_1.0.safetensors"], ["sd_xl_base_1.0.safetensors"])
    celery_worker_factory()
    generation = make_generation()
    # Placed on the second server just before it stopped: its message waits in that server's queue.
    Generation.objects.filter(pk=generation.pk).update(server=b.url)
    b.stop()
    run_generation.apply_async(args=[generation.pk], queue=placement.queue_for(1))
    generation = wait_for(generation, Generation.FINISHED)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.server == a.url and [p["prompt_id"] for p in a.prompts] == [generation.prompt_id]
    assert generation.attempts == 1
