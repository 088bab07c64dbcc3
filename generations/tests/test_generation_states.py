"""Generation's own transitions: a conditional update each, so two workers never both win."""

import pytest

from generations.models import Generation


@pytest.fixture
def running(make_generation):
    generation = make_generation()
    assert generation.claim("http://127.0.0.1:8188", "client")
    return generation


def test_losing_the_server_is_marked_once_and_only_on_a_running_job(make_generation, running):
    assert running.lose_server()
    first = running.unreachable_since
    assert first is not None and running.heartbeat_at >= first
    assert not running.lose_server()  # the first moment of the outage is kept
    assert Generation.objects.get(pk=running.pk).unreachable_since == first

    queued = make_generation()
    assert not queued.lose_server()
    assert Generation.objects.get(pk=queued.pk).unreachable_since is None


def test_regaining_the_server_clears_the_mark(running):
    running.lose_server()
    assert running.regain_server()
    assert running.unreachable_since is None
    assert Generation.objects.get(pk=running.pk).unreachable_since is None


@pytest.mark.parametrize("end", ["complete", "fail", "cancel"])
def test_a_job_that_ends_while_its_server_is_away_keeps_no_mark(running, end):
    running.lose_server()
    assert getattr(running, end)(*(["gone"] if end == "fail" else []))
    stored = Generation.objects.get(pk=running.pk)
    assert stored.is_finished and stored.unreachable_since is None
    assert not stored.regain_server()  # a finished job has nothing to regain


def test_a_running_job_moves_to_another_server_from_the_start(running):
    Generation.objects.filter(pk=running.pk).update(prompt_id="p1", progress=0.4, progress_value=4, progress_max=10)
    running.lose_server()
    assert running.move_to("http://gpu-b:8188", "moved")
    stored = Generation.objects.get(pk=running.pk)
    assert stored.status == Generation.Status.RUNNING and stored.server == "http://gpu-b:8188"
    assert (stored.prompt_id, stored.progress, stored.progress_value, stored.progress_max) == ("", 0.0, 0, 0)
    assert stored.unreachable_since is None and stored.error == "moved"


def test_a_queued_job_moves_and_stays_queued_but_a_finished_one_does_not_move(make_generation):
    queued = make_generation()
    assert queued.move_to("http://gpu-b:8188", "moved")
    assert Generation.objects.get(pk=queued.pk).status == Generation.Status.QUEUED
    assert queued.cancel()
    assert not queued.move_to("http://gpu-c:8188", "moved again")
    assert Generation.objects.get(pk=queued.pk).server == "http://gpu-b:8188"


def test_claiming_clears_the_note_of_an_earlier_attempt(make_generation):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(error="ComfyUI did not answer. Retrying…")
    assert generation.claim("http://127.0.0.1:8188", "client")
    assert Generation.objects.get(pk=generation.pk).error == ""
