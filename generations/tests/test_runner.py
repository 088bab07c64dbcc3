"""The generation runner's ways out of trouble, one by one, against the fake ComfyUI: a server that went away
(waited for, left for another, or given up on), a prompt settled from ComfyUI's history, a cancel that arrives
at any moment, a time limit, a crash, a database that blinks while the outcome is recorded.

Whole jobs from the task's side are in test_run_generation_task.py; ComfyUI killed as a process is in
tests/faults/test_comfyui_restart.py.
"""

import io
import threading
import time
import types
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import cache
from django.db import DatabaseError, OperationalError
from django.utils import timezone
from PIL import Image

from generations.clients.comfyui import ComfyUIClient, ComfyUIUnreachable
from generations.clients.comfyui_events import (
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    OutputFile,
    Preview,
    Progress,
    output_files,
)
from generations.models import Generation, MediaKind, MediaOutput
from generations.services import cards, catalog, gpu, placement, runner
from generations.signals import generation_finished, gpu_wanted
from studio.errors import PermanentError, TransientError
from tests.fakes.comfyui import DEFAULT_CHECKPOINTS
from tests.patience import ceiling

GONE = ComfyUIUnreachable("ComfyUI stopped answering.")
RESTARTING = "ComfyUI is restarting, waiting…"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    # What the runner waits between two questions to a server that is away: nothing, here.
    monkeypatch.setattr(runner, "RECONNECT_POLL", 0.0)


def running_on(generation: Generation, server: str, **fields) -> Generation:
    """As a worker leaves a job it is running: claimed on ``server``, beating."""
    fields = {"status": Generation.Status.RUNNING, "server": server, "heartbeat_at": timezone.now(), **fields}
    Generation.objects.filter(pk=generation.pk).update(**fields)
    generation.refresh_from_db()
    return generation


def finished_prompt(fake, generation) -> tuple[str, dict]:
    """A prompt of this generation's workflow that ran to the end on ``fake``: (prompt_id, its history record)."""
    with ComfyUIClient(fake.url) as client:
        prompt_id = client.submit(generation.workflow, "another-client")
        fake.wait_idle()
        return prompt_id, client.history(prompt_id)


def running_within(fake, prompt_id: str, seconds: float = 10.0) -> None:
    deadline = ceiling(seconds)
    while fake.running_prompt_id() != prompt_id:
        assert time.monotonic() < deadline, f"{prompt_id} never started on the fake ComfyUI"
        time.sleep(0.01)


def card_of(generation: Generation, saying: str):
    def check(events) -> bool:
        return any(
            f'id="generation-{generation.pk}"' in e.get("html", "") and saying in e.get("html", "") for e in events
        )

    return check


# -- waiting for a ComfyUI that went away -----------------------------------------------------------------------


def test_a_server_that_answers_again_at_once_is_gone_on_with_without_a_second_question(make_generation, fake_comfyui):
    generation = running_on(make_generation(), fake_comfyui.url, unreachable_since=timezone.now())
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) == fake_comfyui.url
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING and generation.unreachable_since is None
    assert fake_comfyui.hits("/system_stats") == 1


def test_a_server_away_for_a_while_keeps_the_job_waiting_and_its_card_says_so_until_it_answers(
    make_generation, fake_comfyui, listener
):
    generation = running_on(make_generation(), fake_comfyui.url)
    fake_comfyui.fail_path("/system_stats", 503, times=2)
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) == fake_comfyui.url
    assert fake_comfyui.hits("/system_stats") == 3

    def away_then_back(events) -> bool:
        cards = [e["html"] for e in events if f'id="generation-{generation.pk}"' in e.get("html", "")]
        away = [i for i, html in enumerate(cards) if RESTARTING in html]
        return bool(away) and any(RESTARTING not in html for html in cards[away[0] + 1 :])

    listener.drain(until=away_then_back)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING and generation.unreachable_since is None


def test_a_job_waiting_for_its_server_pauses_between_questions_never_before_the_first(
    make_generation, fake_comfyui, settings, sleeps, monkeypatch
):
    settings.COMFYUI_RESTART_WINDOW = 30
    monkeypatch.setattr(runner, "RECONNECT_POLL", 1000.0)  # longer than the window: the pause is cut to fit
    generation = running_on(make_generation(), fake_comfyui.url)
    fake_comfyui.fail_path("/system_stats", 503, times=2)
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) == fake_comfyui.url
    assert fake_comfyui.hits("/system_stats") == 3
    assert len(sleeps) == 2 and all(0 < pause <= 30 for pause in sleeps)


def test_a_server_that_answers_oddly_is_gone_on_with_and_the_reattach_finds_out_more(make_generation, fake_comfyui):
    generation = running_on(make_generation(), fake_comfyui.url, unreachable_since=timezone.now())
    fake_comfyui.fail_path("/system_stats", 404)
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) == fake_comfyui.url
    generation.refresh_from_db()
    assert generation.unreachable_since is None and fake_comfyui.hits("/system_stats") == 1


def test_a_job_keeps_beating_while_it_waits_so_no_other_worker_takes_it_over(
    make_generation, fake_comfyui, monkeypatch
):
    long_ago = timezone.now() - timedelta(hours=1)
    generation = running_on(make_generation(), fake_comfyui.url, heartbeat_at=long_ago, unreachable_since=long_ago)
    fake_comfyui.fail_path("/system_stats", 503, times=2)
    monkeypatch.setattr(runner, "HEARTBEAT_INTERVAL", -1.0)  # a beat at every turn
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._wait_for_comfyui(client, generation, GONE)
    generation.refresh_from_db()
    assert generation.heartbeat_at > long_ago
    assert not runner.reclaim_if_stale(generation)


def test_a_job_that_waits_less_than_a_beat_does_not_write_one(make_generation, fake_comfyui, monkeypatch):
    long_ago = timezone.now() - timedelta(hours=1)
    generation = running_on(make_generation(), fake_comfyui.url, heartbeat_at=long_ago, unreachable_since=long_ago)
    fake_comfyui.fail_path("/system_stats", 503, times=2)
    monkeypatch.setattr(runner, "HEARTBEAT_INTERVAL", 3600.0)
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._wait_for_comfyui(client, generation, GONE)
    generation.refresh_from_db()
    assert generation.heartbeat_at == long_ago


def test_a_job_cancelled_while_its_server_is_away_ends_cancelled_without_asking_the_server(
    make_generation, fake_comfyui
):
    generation = running_on(make_generation(), fake_comfyui.url, cancel_requested=True)
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) is None
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED and generation.finished_at is not None
    assert fake_comfyui.hits("/system_stats") == 0


def test_a_job_that_ended_meanwhile_is_left_as_it_ended(make_generation, fake_comfyui):
    generation = running_on(make_generation(), fake_comfyui.url)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.FAILED, error="Stopped by an admin.")
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) is None
    generation.refresh_from_db()
    assert (generation.status, generation.error) == (Generation.Status.FAILED, "Stopped by an admin.")
    assert fake_comfyui.hits("/system_stats") == 0


def test_a_server_away_past_the_restart_window_fails_the_job_saying_what_to_do(make_generation, fake_comfyui, settings):
    settings.COMFYUI_RESTART_WINDOW = 0
    generation = running_on(make_generation(), fake_comfyui.url, unreachable_since=timezone.now())
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) is None
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.unreachable_since is None
    assert generation.error == (
        f"ComfyUI at {fake_comfyui.url} stopped answering and was not back within 0 s (COMFYUI_RESTART_WINDOW). "
        "Start it again (python main.py --listen), then generate again."
    )


def test_the_restart_window_is_said_as_configured(settings):
    settings.COMFYUI_RESTART_WINDOW = 1.5
    assert runner.unreachable_for_too_long("http://gpu-box:8188") == (
        "ComfyUI at http://gpu-box:8188 stopped answering and was not back within 1.5 s (COMFYUI_RESTART_WINDOW). "
        "Start it again (python main.py --listen), then generate again."
    )


def test_a_job_whose_server_stopped_moves_at_once_to_another_that_can_run_it(
    make_generation, fake_comfyui, dead_url, settings, listener
):
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    generation = running_on(make_generation(), dead_url, prompt_id="on-the-dead-server", progress_value=3)
    with ComfyUIClient(dead_url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) == fake_comfyui.url
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING and generation.server == fake_comfyui.url
    assert generation.prompt_id == "" and generation.progress_value == 0  # it starts there from the beginning
    assert generation.error == f"ComfyUI at {dead_url} stopped answering; this job moved to {fake_comfyui.url}."
    assert not placement.is_up(dead_url)  # what the job found is remembered for the next jobs
    listener.drain(until=card_of(generation, fake_comfyui.url))


def test_a_job_whose_server_stopped_waits_for_it_when_no_other_can_run_it(
    make_generation, fake_comfyui, dead_url, settings, listener
):
    generation = running_on(make_generation(), dead_url)
    fake_comfyui.set_checkpoints(["something_else.safetensors"])  # not the one the job's workflow loads
    catalog.clear_cache(fake_comfyui.url)
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    settings.COMFYUI_RESTART_WINDOW = 0.2
    with ComfyUIClient(dead_url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) is None
    assert not placement.is_up(dead_url)  # remembered: the next jobs do not ask it again at once
    generation.refresh_from_db()
    assert generation.server == dead_url and generation.status == Generation.Status.FAILED
    assert generation.error == runner.unreachable_for_too_long(dead_url)
    assert fake_comfyui.prompts == []
    listener.drain(until=card_of(generation, RESTARTING))


# -- where a job starts ---------------------------------------------------------------------------------------


def test_a_queued_job_whose_server_is_down_moves_to_the_other_servers_queue(
    make_generation, fake_comfyui, dead_url, settings
):
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    settings.GENERATION_JOBS_IN_PROCESS = False
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=dead_url)
    assert runner.run(generation.pk) == runner.MOVED
    generation.refresh_from_db()
    assert (generation.status, generation.server) == (Generation.Status.QUEUED, fake_comfyui.url)
    assert generation.error == f"ComfyUI at {dead_url} stopped answering; this job moved to {fake_comfyui.url}."
    assert generation.attempts == 0 and fake_comfyui.prompts == []


def test_a_queued_job_whose_server_is_down_runs_on_another_in_process(
    make_generation, fake_comfyui, dead_url, settings
):
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    settings.GENERATION_JOBS_IN_PROCESS = True
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=dead_url)
    assert runner.run(generation.pk) == Generation.Status.COMPLETE
    generation.refresh_from_db()
    assert generation.server == fake_comfyui.url and len(fake_comfyui.prompts) == 1


def test_a_queued_job_whose_server_answers_runs_there_though_another_could_take_it(
    make_generation, comfyui_farm, settings
):
    first, second = comfyui_farm(DEFAULT_CHECKPOINTS, DEFAULT_CHECKPOINTS)
    settings.GENERATION_JOBS_IN_PROCESS = True
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=second.url)
    assert runner.run(generation.pk) == Generation.Status.COMPLETE
    generation.refresh_from_db()
    assert generation.server == second.url and generation.error == ""
    assert len(second.prompts) == 1 and first.prompts == []


def test_a_job_another_worker_moved_first_is_not_moved_again(make_generation, fake_comfyui, dead_url, settings):
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=dead_url)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.CANCELLED)
    assert not runner._move(generation, fake_comfyui.url)
    generation.refresh_from_db()
    assert generation.server == dead_url and generation.error == ""


def test_a_missing_or_finished_generation_is_nothing_to_do(make_generation, fake_comfyui):
    done = make_generation()
    Generation.objects.filter(pk=done.pk).update(status=Generation.Status.COMPLETE)
    assert runner.run(done.pk) == "nothing to do"
    assert runner.run(done.pk + 1000) == "nothing to do"
    assert fake_comfyui.prompts == []


def test_a_job_whose_worker_still_beats_is_left_to_it(make_generation, fake_comfyui):
    generation = running_on(make_generation(), fake_comfyui.url)
    assert runner.run(generation.pk) == runner.BUSY
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING and fake_comfyui.prompts == []


def test_a_job_cancelled_before_it_was_claimed_ends_cancelled_and_the_browsers_are_told(
    make_generation, fake_comfyui, listener
):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(cancel_requested=True)
    assert runner.run(generation.pk) == runner.NOT_CLAIMED
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED and fake_comfyui.prompts == []
    listener.drain(until=card_of(generation, 'data-status="cancelled"'))


def test_a_job_another_worker_claimed_first_is_left_to_it(make_generation, fake_comfyui, monkeypatch):
    generation = make_generation()
    monkeypatch.setattr(Generation, "claim", lambda self, server, client_id: False)
    assert runner.run(generation.pk) == runner.NOT_CLAIMED
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED and fake_comfyui.prompts == []


# -- a worker that stopped ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds_since_the_beat, taken_back", [(5, False), (59, False), (61, True), (3600, True)])
def test_a_running_job_goes_back_to_the_queue_only_when_its_worker_stopped_beating_for_a_minute(
    make_generation, seconds_since_the_beat, taken_back
):
    beat = timezone.now() - timedelta(seconds=seconds_since_the_beat)
    generation = running_on(make_generation(), "http://gpu-box:8188", heartbeat_at=beat)
    assert runner.reclaim_if_stale(generation) is taken_back
    generation.refresh_from_db()
    if taken_back:
        assert generation.status == Generation.Status.QUEUED
        assert generation.error == "The worker running this stopped; picking it up again."
    else:
        assert (generation.status, generation.error) == (Generation.Status.RUNNING, "")


def test_taking_back_a_stopped_job_leaves_the_other_stopped_jobs_to_their_own_turn(make_generation):
    beat = timezone.now() - timedelta(hours=1)
    stopped = running_on(make_generation(), "http://gpu-box:8188", heartbeat_at=beat)
    other = running_on(make_generation(), "http://gpu-box:8188", heartbeat_at=beat)
    assert runner.reclaim_if_stale(stopped)
    other.refresh_from_db()
    assert other.status == Generation.Status.RUNNING


def test_only_a_running_job_is_taken_back(make_generation):
    beat = timezone.now() - timedelta(hours=1)
    generation = running_on(make_generation(), "http://gpu-box:8188", heartbeat_at=beat)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.COMPLETE)
    assert not runner.reclaim_if_stale(generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE


def test_a_resumed_job_follows_its_prompt_under_the_client_id_it_was_sent_with(make_generation, fake_comfyui):
    generation = make_generation()
    prompt_id, _ = finished_prompt(fake_comfyui, generation)
    stale = timezone.now() - timedelta(hours=1)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        server=fake_comfyui.url,
        prompt_id=prompt_id,
        client_id="the-first-worker",
        heartbeat_at=stale,
    )
    assert runner.run(generation.pk) == Generation.Status.COMPLETE
    generation.refresh_from_db()
    assert (generation.prompt_id, generation.client_id) == (prompt_id, "the-first-worker")
    assert len(fake_comfyui.prompts) == 1


def test_a_fresh_job_gets_a_client_id_of_its_own(make_generation, fake_comfyui):
    first, second = make_generation(), make_generation()
    runner.run(first.pk)
    runner.run(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert len({first.client_id, second.client_id}) == 2 and all(len(g.client_id) == 32 for g in (first, second))
    assert [p["client_id"] for p in fake_comfyui.prompts] == [first.client_id, second.client_id]


# -- re-attaching to a prompt ComfyUI already has -------------------------------------------------------------


def test_a_prompt_still_waiting_in_comfyuis_queue_is_followed_not_sent_again(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.hang_next()
    with ComfyUIClient(fake_comfyui.url) as client:
        blocking = client.submit(generation.workflow, "someone-else")
        waiting = client.submit(generation.workflow, "the-first-worker")
        generation = running_on(generation, fake_comfyui.url, prompt_id=waiting)
        assert runner._reattach(client, generation)
        client.interrupt(blocking)
    assert len(fake_comfyui.prompts) == 2 and generation.status == Generation.Status.RUNNING


def test_a_prompt_comfyui_does_not_know_is_to_be_sent_again(make_generation, fake_comfyui):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="forgotten-in-a-restart")
    with ComfyUIClient(fake_comfyui.url) as client:
        assert not runner._reattach(client, generation)
    assert generation.status == Generation.Status.RUNNING


def test_the_queue_is_read_whatever_its_entries_lack(make_generation, fake_comfyui):
    queue = {
        "queue_running": [[0, "running-one", {}, {}, []], [1], "not an entry"],
        "queue_pending": [(2, "pending-one"), None],
    }
    client = types.SimpleNamespace(queue=lambda: queue)
    assert runner._queued_prompt_ids(client) == {"running-one", "pending-one"}
    assert runner._queued_prompt_ids(types.SimpleNamespace(queue=lambda: {})) == set()
    assert runner._queued_prompt_ids(types.SimpleNamespace(queue=lambda: None)) == set()
    numbered = types.SimpleNamespace(queue=lambda: {"queue_running": [[0, 12345]], "queue_pending": []})
    assert runner._queued_prompt_ids(numbered) == {"12345"}


def test_a_prompt_that_finished_unwatched_is_collected_from_its_history(make_generation, fake_comfyui):
    generation = make_generation()
    prompt_id, record = finished_prompt(fake_comfyui, generation)
    generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id)
    record["status"]["messages"] = [
        "not a message",
        ["execution_error"],
        ["execution_error", "not a dict"],
        ["execution_start", {"prompt_id": prompt_id}],
    ] + record["status"]["messages"]
    asked = fake_comfyui.hits("/history")
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.kind == MediaKind.IMAGE
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert fake_comfyui.hits("/history") == asked  # the record at hand is not asked for again


def test_comfyuis_error_after_a_message_it_could_not_read_still_fails_the_job(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.fail_next_with_execution_error(node_type="KSampler", message="CUDA out of memory")
    prompt_id, record = finished_prompt(fake_comfyui, generation)
    generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id)
    record["status"]["messages"] = [["execution_error", "not a dict"], *record["status"]["messages"]]
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and "CUDA out of memory" in generation.error


def test_a_prompt_that_only_previewed_unwatched_is_settled_with_its_previews(make_generation, fake_comfyui):
    generation = make_generation()
    for node in generation.workflow.values():
        if node["class_type"] == "SaveImage":
            node["class_type"] = "PreviewImage"
    prompt_id, record = finished_prompt(fake_comfyui, generation)
    generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id)
    asked = fake_comfyui.hits("/history")
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert fake_comfyui.hits("/history") == asked


def test_a_history_with_no_status_is_collected_from_its_outputs(make_generation, fake_comfyui):
    generation = make_generation()
    prompt_id, record = finished_prompt(fake_comfyui, generation)
    generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id)
    del record["status"]
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE, generation.error


def test_a_prompt_that_failed_unwatched_fails_with_comfyuis_reason(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.fail_next_with_execution_error(node_type="KSampler", message="CUDA out of memory")
    prompt_id, record = finished_prompt(fake_comfyui, generation)
    generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id)
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "KSampler" in generation.error and "CUDA out of memory" in generation.error
    assert not MediaOutput.objects.filter(generation=generation).exists()


@pytest.mark.parametrize("cancelled_here, expected", [(True, "cancelled"), (False, "failed")])
def test_a_prompt_interrupted_unwatched_ends_as_the_artist_asked_or_fails_saying_who_might_have(
    make_generation, fake_comfyui, cancelled_here, expected
):
    generation = make_generation()
    fake_comfyui.hang_next()
    with ComfyUIClient(fake_comfyui.url) as client:
        prompt_id = client.submit(generation.workflow, "another-client")
        running_within(fake_comfyui, prompt_id)
        client.interrupt(prompt_id)
        fake_comfyui.wait_idle()
        record = client.history(prompt_id)
        generation = running_on(generation, fake_comfyui.url, prompt_id=prompt_id, cancel_requested=cancelled_here)
        runner._settle_from_history(client, generation, record)
    generation.refresh_from_db()
    assert generation.status == expected
    if expected == "failed":
        assert generation.error == "ComfyUI interrupted the run (someone pressed Cancel in ComfyUI?). Generate again."


# -- cancel, time limit, crash --------------------------------------------------------------------------------


def test_cancel_before_the_prompt_runs_takes_it_out_of_comfyuis_queue(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.hang_next()
    with ComfyUIClient(fake_comfyui.url) as client:
        blocking = client.submit(generation.workflow, "someone-else")
        generation = running_on(generation, fake_comfyui.url, cancel_requested=True)
        with client.events("the-worker") as events:
            prompt_id = client.submit(generation.workflow, "the-worker")
            generation.prompt_id = prompt_id
            runner._follow(client, events, generation)
        client.interrupt(blocking)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert fake_comfyui.deletes == [prompt_id] and prompt_id in fake_comfyui.interrupts


@pytest.mark.parametrize(
    "raised, expected",
    [
        (
            SoftTimeLimitExceeded(),
            "ComfyUI did not finish within 7 s, so the studio stopped it. "
            "Check the ComfyUI console, or raise GENERATION_TIME_LIMIT for long videos.",
        ),
        (
            KeyError("outputs"),
            "The studio hit an unexpected error while running this generation ('outputs'). Try again.",
        ),
    ],
)
def test_a_job_stopped_by_its_time_limit_or_a_crash_stops_its_prompt_and_fails_saying_why(
    make_generation, fake_comfyui, settings, monkeypatch, raised, expected
):
    settings.GENERATION_TIME_LIMIT = 7
    told = []
    generation = make_generation()

    def submit_then_stop(client, generation, client_id, *, resuming):
        generation.prompt_id = "sent-before-the-stop"
        raise raised

    monkeypatch.setattr(runner, "_attach_and_follow", submit_then_stop)
    # Listeners may filter on the sender, as Django's own model signals are named after their model.
    generation_finished.connect(
        receiver := lambda sender, generation, **kw: told.append(generation.status), sender=Generation
    )
    try:
        assert runner.run(generation.pk) == Generation.Status.FAILED
    finally:
        generation_finished.disconnect(receiver)
    generation.refresh_from_db()
    assert generation.error == expected
    assert fake_comfyui.deletes == ["sent-before-the-stop"] and fake_comfyui.interrupts == ["sent-before-the-stop"]
    assert told == [Generation.Status.FAILED]


def test_a_prompt_never_sent_is_not_stopped(fake_comfyui):
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._stop_quietly(client, "")
    assert fake_comfyui.hits("/queue") == 0 and fake_comfyui.hits("/interrupt") == 0


def test_stopping_a_prompt_on_a_server_that_fails_costs_nothing_more(fake_comfyui):
    fake_comfyui.fail_path("/queue", 503, times=10)
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._stop_quietly(client, "a-prompt")
    fake_comfyui.fail_path("/queue", 400, times=10)
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._stop_quietly(client, "a-prompt")
    assert fake_comfyui.interrupts == []


# -- recording the outcome ------------------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(sleep=slept.append, monotonic=runner.time.monotonic))
    return slept


def answering(*answers):
    """An action that raises or returns each of ``answers`` in turn."""
    left = iter(answers)

    def action():
        answer = next(left)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return action


def test_a_database_gone_mid_job_is_a_transient_error_saying_so(make_generation, fake_comfyui, monkeypatch):
    generation = make_generation()

    def gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Generation, "claim", gone)
    with pytest.raises(TransientError) as raised:
        runner.run(generation.pk)
    assert raised.value.message == (
        "The studio lost its database connection while running the generation "
        "(server closed the connection unexpectedly)."
    )
    assert fake_comfyui.prompts == []


def test_recording_the_outcome_rides_out_a_database_blip(sleeps):
    action = answering(DatabaseError("gone"), DatabaseError("still gone"), "recorded")
    assert runner._settle_with_db_retries(action) == "recorded"
    assert sleeps == [0.5, 1.0]


def test_recording_the_outcome_gives_up_after_three_tries(sleeps):
    tries = []

    def action():
        tries.append(1)
        raise DatabaseError("down for good")

    with pytest.raises(DatabaseError, match="down for good"):
        runner._settle_with_db_retries(action)
    assert len(tries) == 3 and sleeps == [0.5, 1.0]


def test_a_blip_inside_a_callers_transaction_leaves_that_transaction_working(make_generation, sleeps):
    generation = make_generation()
    assert runner._settle_with_db_retries(answering(DatabaseError("gone"), "recorded")) == "recorded"
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_recording_the_outcome_at_once_does_not_wait(sleeps):
    assert runner._settle_with_db_retries(lambda: 42) == 42
    assert sleeps == []


def test_a_retry_puts_the_job_back_in_the_queue_keeping_its_prompt(make_generation, listener):
    generation = running_on(make_generation(), "http://gpu-box:8188", prompt_id="p-1", client_id="c-1")
    runner.requeue(generation.pk, "ComfyUI was busy; trying again.")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED and generation.error == "ComfyUI was busy; trying again."
    assert (generation.prompt_id, generation.client_id) == ("p-1", "c-1")
    listener.drain(until=card_of(generation, 'data-status="queued"'))


def test_giving_up_stops_the_prompt_comfyui_may_still_hold_and_fails_the_job(make_generation, fake_comfyui):
    told = []
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="still-on-comfyui")
    generation_finished.connect(receiver := lambda sender, generation, **kw: told.append(generation.pk))
    try:
        runner.give_up(generation.pk, "ComfyUI kept failing (3 tries).")
    finally:
        generation_finished.disconnect(receiver)
    generation.refresh_from_db()
    assert (generation.status, generation.error) == (Generation.Status.FAILED, "ComfyUI kept failing (3 tries).")
    assert fake_comfyui.deletes == ["still-on-comfyui"] and fake_comfyui.interrupts == ["still-on-comfyui"]
    assert told == [generation.pk]


@pytest.mark.parametrize("fields", [{"prompt_id": ""}, {"server": ""}])
def test_giving_up_on_a_job_that_never_reached_comfyui_asks_nothing_of_it(make_generation, fake_comfyui, fields):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1")
    Generation.objects.filter(pk=generation.pk).update(**fields)
    runner.give_up(generation.pk, "The database went away.")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert fake_comfyui.hits("/queue") == 0 and fake_comfyui.hits("/interrupt") == 0


def test_giving_up_on_a_job_that_already_ended_leaves_it_and_tells_nobody(make_generation, fake_comfyui):
    told = []
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.COMPLETE)
    generation_finished.connect(receiver := lambda sender, generation, **kw: told.append(generation.pk))
    try:
        runner.give_up(generation.pk, "too late")
    finally:
        generation_finished.disconnect(receiver)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE and generation.error == "" and told == []


# -- the time left on the card ---------------------------------------------------------------------------------


def step(node: str, value: int, total: int = 20) -> Progress:
    return Progress(node=node, value=value, max=total, prompt_id="p-1")


def test_the_time_left_is_reckoned_from_the_samplers_first_step_seen():
    clock = runner.StepClock()
    assert clock.eta(step("3", 2), now=100.0) is None  # one step seen: no rate yet
    assert clock.eta(step("3", 2), now=101.0) is None  # still no step done since
    # 4 steps in 4 s since the first one seen (not since the repeat): 1 s a step, 14 to go.
    assert clock.eta(step("3", 6), now=104.0) == 14


def test_a_new_sampler_or_a_restarted_one_starts_the_clock_again():
    clock = runner.StepClock()
    clock.eta(step("3", 1), now=0.0)
    assert clock.eta(step("3", 11), now=10.0) == 9
    assert clock.eta(step("7", 12), now=20.0) is None  # another node (a second pass): its own rate
    assert clock.eta(step("7", 14), now=21.0) == 3
    assert clock.eta(step("7", 2), now=22.0) is None  # the count went back: a new run of that node
    assert clock.eta(step("7", 4), now=24.0) == 16


# -- the files a prompt made ---------------------------------------------------------------------------------


def made_files(fake, generation) -> list[OutputFile]:
    """The files a finished prompt of ``generation`` left on ``fake``, as its history lists them."""
    _, record = finished_prompt(fake, generation)
    return [file for node, output in record["outputs"].items() for file in output_files(node, output)]


def test_the_pictures_among_the_files_are_stored_once_and_the_rest_passed_over(make_generation, fake_comfyui):
    generation = make_generation()
    [picture] = made_files(fake_comfyui, generation)
    sound = OutputFile(node="9", filename="voice.flac", subfolder="", type="output", kind="audio")
    preview = OutputFile(node="9", filename="preview.png", subfolder="", type="temp", kind="image")
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._save_files(client, generation, [sound, preview, picture]) is True
        assert fake_comfyui.hits("/view") == 1  # neither the sound nor the preview was fetched
        assert runner._save_files(client, generation, [picture]) is False  # already stored: not fetched again
        assert runner._save_files(client, generation, []) is False
    assert fake_comfyui.hits("/view") == 1
    [stored] = MediaOutput.objects.filter(generation=generation)
    assert stored.original_filename == picture.filename


def test_bytes_that_are_no_picture_are_refused_saying_what_came_and_what_to_check(make_generation):
    generation = make_generation()
    page = OutputFile(node="9", filename="page.png", subfolder="", type="output", kind="image")
    with pytest.raises(PermanentError) as refused:
        runner._store(generation, page, b"<html>not a picture</html>", "")
    assert refused.value.message == (
        "ComfyUI sent page.png as an unnamed type, but it is not a PNG, JPEG, GIF, WEBP, MP4 or WebM file; "
        "the studio stores only images and videos, so it was not kept. Check the workflow's output node."
    )
    assert not MediaOutput.objects.filter(generation=generation).exists()


# -- a rework's starting picture --------------------------------------------------------------------------------


def stored_picture(generation: Generation, size: int, kind: str = "image") -> MediaOutput:
    from .test_gallery_view import stored_output

    return stored_output(generation, data=png(size), name=f"{kind}-{size}.png", kind=kind)


def test_a_rework_uploads_the_picture_of_its_own_source_and_the_stored_workflow_loads_it(make_generation, fake_comfyui):
    older, source, newer = make_generation(), make_generation(), make_generation()
    stored_picture(older, 16)  # other jobs' pictures, before and after it in any order
    stored_picture(newer, 24)
    stored_picture(source, 48, kind="video")
    picture = stored_picture(source, 64)
    rework = make_generation()
    rework.workflow = {"1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}}}
    rework.template, rework.source = "img2img", source
    rework.save()
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._prepare_inputs(client, rework)
    [upload] = fake_comfyui.uploads
    assert upload["size"] == picture.size_bytes
    rework.refresh_from_db()
    assert rework.workflow["1"]["inputs"]["image"] == f"{upload['subfolder']}/{upload['name']}"


def test_only_a_rework_uploads_a_picture(make_generation, fake_comfyui):
    source = make_generation()
    stored_picture(source, 64)
    variation = make_generation()
    variation.source = source
    variation.save()
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._prepare_inputs(client, variation)
    assert fake_comfyui.uploads == []


def test_a_rework_whose_picture_is_gone_says_to_generate_from_the_brief(make_generation, fake_comfyui):
    rework = make_generation()
    rework.template, rework.source = "img2img", make_generation()
    rework.save()
    with ComfyUIClient(fake_comfyui.url) as client, pytest.raises(PermanentError) as refused:
        runner._prepare_inputs(client, rework)
    assert refused.value.message == "The image to rework is gone; generate from the brief instead."


# -- a GPU shared with the language model -----------------------------------------------------------------------


@pytest.fixture
def gpu_wanted_heard():
    heard = []

    def freeing(sender, generation, server, **kwargs):
        heard.append((generation.pk, server))
        raise RuntimeError("the model would not unload")  # must not cost the job its picture

    gpu_wanted.connect(freeing, sender=Generation)
    yield heard
    gpu_wanted.disconnect(freeing, sender=Generation)


def test_a_job_on_a_server_sharing_the_gpu_first_asks_for_the_gpu_and_marks_it_held(
    make_generation, settings, gpu_wanted_heard
):
    settings.COMFYUI_SHARES_GPU = "http://gpu-box:8188"
    generation = make_generation()
    runner._make_room_on_the_gpu(generation, "http://gpu-box:8188")
    assert gpu_wanted_heard == [(generation.pk, "http://gpu-box:8188")]
    assert cache.get(gpu.HELD_KEY.format(server="http://gpu-box:8188")) is True


def test_a_job_on_a_server_of_its_own_leaves_the_gpu_alone(make_generation, settings, gpu_wanted_heard):
    settings.COMFYUI_SHARES_GPU = "http://gpu-box:8188"
    runner._make_room_on_the_gpu(make_generation(), "http://render-farm:8188")
    assert gpu_wanted_heard == []
    assert cache.get(gpu.HELD_KEY.format(server="http://render-farm:8188")) is None


# -- following a prompt ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beat_every, beats", [(-1.0, True), (3600.0, False)])
def test_a_job_that_runs_long_without_progress_keeps_beating_at_its_pace(
    make_generation, fake_comfyui, settings, monkeypatch, clock, beat_every, beats
):
    settings.GENERATION_TIME_LIMIT = 10
    monkeypatch.setattr(runner, "HEARTBEAT_INTERVAL", beat_every)
    long_ago = timezone.now() - timedelta(hours=1)
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1", heartbeat_at=long_ago)
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, paced(clock, 1.0), generation)  # ComfyUI says nothing for 10 s
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and "did not finish within 10 s" in generation.error
    assert (generation.heartbeat_at > long_ago) is beats


def test_a_server_that_stays_away_is_asked_once_a_turn(make_generation, fake_comfyui, dead_url, settings, sleeps):
    settings.COMFYUI_URLS = [fake_comfyui.url, dead_url]
    settings.COMFYUI_RESTART_WINDOW = 0.2
    fake_comfyui.fail_path("/system_stats", 503, times=10_000)
    generation = running_on(make_generation(), fake_comfyui.url)
    with ComfyUIClient(fake_comfyui.url) as client:
        assert runner._wait_for_comfyui(client, generation, GONE) is None
    # Whether another server could take the job was decided on what the job itself found, not asked again.
    assert fake_comfyui.hits("/system_stats") == len(sleeps) + 1


def test_what_another_prompt_says_on_the_socket_is_not_taken_for_this_jobs(make_generation, fake_comfyui, clock):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1")
    stream = paced(
        clock,
        1.0,
        Progress(prompt_id="p-0", node="3", value=5, max=5),
        Executing(prompt_id="p-0", node=None),  # the other prompt ended
        ExecutionError(
            prompt_id="p-1",
            node_id="3",
            node_type="KSampler",
            message="CUDA out of memory",
            exception_type="torch.OutOfMemoryError",
        ),
    )
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, stream, generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and "CUDA out of memory" in generation.error
    assert generation.progress_value == 0


@pytest.fixture
def clock(monkeypatch):
    """The runner's clock, moved on by the test (``clock.now += 10``); nothing is slept."""
    state = types.SimpleNamespace(now=100_000.0)  # a machine up for a day
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(monotonic=lambda: state.now, sleep=lambda s: None))
    return state


def paced(clock, seconds: float, *events):
    """A stream that says each of ``events`` ``seconds`` after the one before, then nothing. A callable among
    them is something that happens meanwhile: it is called, and the stream says nothing that time."""
    left = iter(events)

    def next_event(timeout):
        clock.now += seconds
        event = next(left, None)
        if callable(event):
            event()
            return None
        return event

    return types.SimpleNamespace(next=next_event)


def progress_pushes(listener, generation, until: str) -> list[str]:
    bar = f'id="generation-{generation.pk}-progress"'
    events = listener.drain(until=lambda events: any(until in e.get("html", "") for e in events))
    return [e["html"] for e in events if bar in e.get("html", "")]


def test_the_bar_says_the_time_left_at_the_samplers_own_pace(make_generation, fake_comfyui, listener, clock):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1")
    stream = paced(
        clock,
        10.0,
        Progress(prompt_id="p-1", node="3", value=1, max=20),
        Progress(prompt_id="p-1", node="3", value=11, max=20),  # 10 steps in 10 s: 9 s for the last 9
        Executing(prompt_id="p-1", node=None),
    )
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, stream, generation)
    pushes = progress_pushes(listener, generation, "Step 11/20")
    assert "Step 1/20" in pushes[0] and "Step 11/20 · about 9 s left" in pushes[-1]


@pytest.mark.parametrize(
    "began",
    [Progress(prompt_id="p-1", node="3", value=1, max=20), Executing(prompt_id="p-1", node="4")],
    ids=["a-step", "a-node"],
)
def test_a_cancel_after_the_prompt_began_interrupts_and_leaves_the_queue_alone(
    make_generation, fake_comfyui, clock, began
):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1")
    stream = paced(
        clock,
        1.0,
        began,
        lambda: Generation.objects.filter(pk=generation.pk).update(cancel_requested=True),
    )
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, stream, generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert fake_comfyui.interrupts == ["p-1"] and fake_comfyui.deletes == []


@pytest.mark.parametrize(
    "cancel_requested, status, error",
    [
        (True, Generation.Status.CANCELLED, ""),
        (
            False,
            Generation.Status.FAILED,
            "ComfyUI interrupted the run (someone pressed Cancel in ComfyUI?). Generate again.",
        ),
    ],
    ids=["asked-by-the-artist", "asked-by-nobody-here"],
)
def test_a_prompt_interrupted_while_watched_ends_as_the_artist_asked_or_fails_saying_who_might_have(
    make_generation, fake_comfyui, clock, cancel_requested, status, error
):
    generation = running_on(make_generation(), fake_comfyui.url, prompt_id="p-1")
    stream = paced(
        clock,
        0.1,  # quicker than the runner looks for a cancel: only the interruption's news makes it look
        Progress(prompt_id="p-1", node="3", value=1, max=20),
        lambda: Generation.objects.filter(pk=generation.pk).update(cancel_requested=cancel_requested),
        ExecutionInterrupted(prompt_id="p-1", node_id="3", node_type="KSampler"),
    )
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, stream, generation)
    generation.refresh_from_db()
    assert (generation.status, generation.error) == (status, error)


def png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def test_the_frames_of_a_websocket_output_node_are_its_pictures_each_stored(make_generation, fake_comfyui, clock):
    generation = make_generation()
    generation.workflow["90"] = {"class_type": "SaveImageWebsocket", "inputs": {"images": ["8", 0]}}
    generation.save()
    generation = running_on(generation, fake_comfyui.url, prompt_id="p-1")
    stream = paced(
        clock,
        1.0,
        Executing(prompt_id="p-1", node="90"),
        Preview(image=png(32), mime="image/png"),  # binary frames name neither prompt nor node
        Preview(image=png(48), mime="image/png"),
        Preview(image=png(64), mime="image/png"),
        Executing(prompt_id="p-1", node=None),
    )
    with ComfyUIClient(fake_comfyui.url) as client:
        runner._follow(client, stream, generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE, generation.error
    stored = MediaOutput.objects.filter(generation=generation).order_by("pk")
    assert [(o.original_filename, o.width) for o in stored] == [
        ("websocket_90_00000", 32),
        ("websocket_90_00001", 48),
        ("websocket_90_00002", 64),
    ]


def test_a_socket_dropped_mid_run_re_attaches_to_the_prompt_without_sending_it_again(make_generation, fake_comfyui):
    fake_comfyui.step_delay = 0.05  # a second of steps: the socket drops in the middle of them
    generation = make_generation(steps=20)
    dropped = threading.Event()

    def drop_once_running() -> None:
        deadline = ceiling(10)
        while fake_comfyui.running_prompt_id() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        fake_comfyui.drop_sockets()
        dropped.set()

    threading.Thread(target=drop_once_running, daemon=True).start()
    assert runner.run(generation.pk) == Generation.Status.COMPLETE
    assert dropped.is_set() and fake_comfyui.hits("/system_stats") == 1  # the runner saw its socket go
    generation.refresh_from_db()
    assert len(fake_comfyui.prompts) == 1 and generation.error == ""
    assert MediaOutput.objects.filter(generation=generation).count() == 1


def test_a_job_whose_server_went_away_under_it_goes_on_with_the_server_it_moved_to(
    make_generation, fake_comfyui, dead_url, settings
):
    settings.COMFYUI_URLS = [dead_url, fake_comfyui.url]
    generation = make_generation()
    # Sent to a server that no longer answers: the job re-attaches there, finds it away, and moves on.
    Generation.objects.filter(pk=generation.pk).update(server=dead_url, prompt_id="lost-with-it", client_id="c-1")
    assert runner.run(generation.pk) == Generation.Status.COMPLETE
    generation.refresh_from_db()
    assert generation.server == fake_comfyui.url and generation.prompt_id != "lost-with-it"
    assert len(fake_comfyui.prompts) == 1 and MediaOutput.objects.filter(generation=generation).exists()


def test_a_job_that_ends_moves_up_the_jobs_queued_behind_it_on_its_server_only(make_generation, listener):
    done = running_on(make_generation(), "http://gpu-box:8188")
    behind = make_generation()
    elsewhere = make_generation()
    Generation.objects.filter(pk=behind.pk).update(server="http://gpu-box:8188")
    Generation.objects.filter(pk=elsewhere.pk).update(server="http://render-farm:8188")
    done.fail("Stopped.")
    runner.finish(done)
    marker = make_generation()
    cards.push_card(marker)  # after everything finish() pushed: the group keeps the order
    events = listener.drain(until=card_of(marker, f'id="generation-{marker.pk}"'))
    pushed = " ".join(e.get("html", "") for e in events)
    assert f'id="generation-{done.pk}"' in pushed and f'id="generation-{behind.pk}-progress"' in pushed
    assert f'id="generation-{elsewhere.pk}-' not in pushed
