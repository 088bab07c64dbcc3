"""Several ComfyUI servers with different models, one of them stopped in the middle of a run.

Jobs go only to a server that has their model; when one stops, the job it was running and the jobs
waiting for it move to a server that can run them, and every job finishes. In-process workers here
(both set-ups); the Celery worker's side is in generations/tests/test_celery_worker.py.
"""

import time

import pytest

from generations.models import Generation, MediaOutput
from generations.services import dispatch
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SDXL = "sd_xl_base_1.0.safetensors"
SD15 = "v1-5-pruned-emaonly.safetensors"
MOVED = "stopped answering; this job moved to"


@pytest.fixture(autouse=True)
def in_process_worker(settings):
    settings.GENERATION_JOBS_IN_PROCESS = True
    settings.COMFYUI_RESTART_WINDOW = 60  # a stopped server is left at once when another can run the job


def wait_finished(generations, timeout: float = 60) -> list[Generation]:
    deadline = time.monotonic() + timeout
    while True:
        for generation in generations:
            generation.refresh_from_db()
        if all(generation.is_finished for generation in generations):
            return generations
        assert time.monotonic() < deadline, [(g.pk, g.status, g.server) for g in generations]
        time.sleep(0.05)


def running_on(fake) -> Generation | None:
    return Generation.objects.filter(server=fake.url, status="running", progress__gt=0).first()


def test_a_server_stopped_mid_run_hands_its_jobs_to_servers_that_have_their_models(
    comfyui_farm, make_generation, listener
):
    a, b, c = comfyui_farm([SDXL], [SDXL, SD15], [SD15])
    for fake in (a, b, c):
        fake.step_delay = 0.03
    jobs = [make_generation(checkpoint=checkpoint, steps=20) for checkpoint in [SD15, SD15, SDXL, SDXL] * 2]
    for job in jobs:
        dispatch.enqueue(job)
    assigned = {job.pk: Generation.objects.get(pk=job.pk).server for job in jobs}
    assert b.url in assigned.values()
    assert all(assigned[job.pk] != a.url for job in jobs if job.parameters["checkpoint"] == SD15)
    assert all(assigned[job.pk] != c.url for job in jobs if job.parameters["checkpoint"] == SDXL)

    interrupted = wait_until(lambda: running_on(b), 30, "a job to be running on the second server")
    b.stop()

    finished = wait_finished(jobs)
    assert [job.status for job in finished] == [Generation.Status.COMPLETE] * len(jobs), [j.error for j in finished]
    assert all(MediaOutput.objects.filter(generation=job).count() == 1 for job in finished)
    interrupted.refresh_from_db()
    wanted = {SD15: c.url, SDXL: a.url}[interrupted.parameters["checkpoint"]]
    assert interrupted.server == wanted
    assert any(prompt["prompt_id"] == interrupted.prompt_id for prompt in (a.prompts + c.prompts))
    # Every job that was still to run on the stopped server ran where its model is.
    for job in finished:
        if job.server != b.url:
            assert job.server == {SD15: c.url, SDXL: a.url}[job.parameters["checkpoint"]]
    listener.drain(
        until=lambda events: any(
            f'id="generation-{interrupted.pk}' in e.get("html", "") and MOVED in e.get("html", "") for e in events
        )
    )


def test_a_job_whose_server_stops_with_no_other_able_server_waits_for_it(comfyui_farm, make_generation, settings):
    settings.COMFYUI_RESTART_WINDOW = 2
    a, b = comfyui_farm([SDXL], [SD15])
    b.step_delay = 0.05
    job = make_generation(checkpoint=SD15, steps=40)
    dispatch.enqueue(job)
    wait_until(lambda: running_on(b), 30, "the job to be running")
    b.stop()
    [failed] = wait_finished([job])
    assert failed.status == Generation.Status.FAILED
    assert "stopped answering and was not back within 2 s" in failed.error
    assert failed.server == b.url and a.prompts == []
