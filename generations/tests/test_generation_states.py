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
