"""ComfyUI going away under a running generation: killed and started again, or its socket dropped.

The job keeps its place (still running, its card saying so) while ComfyUI does not answer, for up to
COMFYUI_RESTART_WINDOW; then it re-attaches to its prompt (followed if still running, collected from
/history if it finished) or, when a restart made ComfyUI forget it, submits it again once. A ComfyUI
that stays away longer fails the job with what to do.
"""

import threading
import time

import pytest

from generations.models import Generation, MediaOutput
from generations.services import generate, runner
from generations.tasks import run_generation
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WAITING = "ComfyUI is restarting, waiting…"


class Job:
    """run_generation on a thread of its own, as a worker runs it, while the test breaks ComfyUI."""

    def __init__(self, generation: Generation):
        self.generation = generation
        self.thread = threading.Thread(target=run_generation.apply, args=([generation.pk],), daemon=True)
        self.thread.start()

    def result(self, timeout: float) -> Generation:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the job was still running after {timeout} s"
        self.generation.refresh_from_db()
        return self.generation


def card_says(text: str, generation: Generation):
    def check(events) -> bool:
        return any(f'id="generation-{generation.pk}' in e.get("html", "") and text in e.get("html", "") for e in events)

    return check


@pytest.mark.parametrize("down_for", [5, 60])
def test_a_comfyui_killed_mid_job_and_started_again_finishes_the_job(
    down_for, make_generation, comfyui_process, listener
):
    comfyui = comfyui_process(step_delay=0.05, steps=30).start()
    job = Job(make_generation())
    wait_until(comfyui.running_prompt_ids, 30, "the prompt to start on ComfyUI")
    first_prompt = comfyui.running_prompt_ids()[0]
    comfyui.kill()
    killed_at = time.monotonic()

    listener.drain(until=card_says(WAITING, job.generation))
    job.generation.refresh_from_db()
    assert job.generation.status == Generation.Status.RUNNING and job.generation.unreachable_since is not None
    time.sleep(max(0.0, down_for - (time.monotonic() - killed_at)))
    comfyui.start()

    generation = job.result(timeout=60)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    # The restarted ComfyUI forgot the prompt: it was submitted again, once, in the same attempt.
    assert list(comfyui.history()) == [generation.prompt_id] and generation.prompt_id != first_prompt
    assert generation.attempts == 1 and generation.unreachable_since is None
    listener.drain(until=card_says('data-status="complete"', generation))


def test_a_comfyui_away_longer_than_the_window_fails_the_job_with_what_to_do(
    make_generation, comfyui_process, settings, listener
):
    settings.COMFYUI_RESTART_WINDOW = 3
    comfyui = comfyui_process(step_delay=0.05, steps=30).start()
    job = Job(make_generation())
    wait_until(comfyui.running_prompt_ids, 30, "the prompt to start on ComfyUI")
    comfyui.kill()

    generation = job.result(timeout=30)
    assert generation.status == Generation.Status.FAILED
    assert generation.error == runner.unreachable_for_too_long(comfyui.url)
    assert "not back within 3 s" in generation.error and "Start it again" in generation.error
    assert generation.attempts == 1 and generation.unreachable_since is None
    listener.drain(until=card_says("not back within 3 s", generation))


def test_a_job_cancelled_while_comfyui_is_away_ends_at_once(make_generation, comfyui_process, listener):
    comfyui = comfyui_process(step_delay=0.05, steps=30).start()
    job = Job(make_generation())
    wait_until(comfyui.running_prompt_ids, 30, "the prompt to start on ComfyUI")
    comfyui.kill()
    listener.drain(until=card_says(WAITING, job.generation))

    job.generation.refresh_from_db()
    assert generate.cancel(job.generation)
    generation = job.result(timeout=15)  # far inside the two-minute window
    assert generation.status == Generation.Status.CANCELLED


def test_a_dropped_socket_re_attaches_to_the_running_prompt_without_submitting_it_again(make_generation, fake_comfyui):
    fake_comfyui.step_delay = 0.05
    job = Job(make_generation(steps=40))
    wait_until(lambda: fake_comfyui.running_prompt_id() is not None, 30, "the prompt to start on ComfyUI")
    prompt_id = fake_comfyui.running_prompt_id()
    fake_comfyui.drop_sockets()

    generation = job.result(timeout=60)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.prompt_id == prompt_id and len(fake_comfyui.prompts) == 1
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert generation.attempts == 1


def test_a_prompt_that_finished_while_the_socket_was_down_is_collected_from_the_history(make_generation, fake_comfyui):
    fake_comfyui.step_delay = 0.05
    job = Job(make_generation(steps=20))
    wait_until(lambda: fake_comfyui.running_prompt_id() is not None, 30, "the prompt to start on ComfyUI")
    # ComfyUI answers "busy" for the runner's next three checks (about 3 s): the prompt (1 s of steps) ends unwatched.
    fake_comfyui.fail_path("/system_stats", 503, times=3)
    fake_comfyui.drop_sockets()

    generation = job.result(timeout=60)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert fake_comfyui.hits("/system_stats") == 4
    assert len(fake_comfyui.prompts) == 1
    assert MediaOutput.objects.filter(generation=generation).count() == 1
