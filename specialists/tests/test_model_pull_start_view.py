import time

import pytest
from django.urls import reverse

from specialists.models import ModelPull

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, session, model="qwen3:8b"):
    return client.post(reverse("specialists:model_pull_start", args=[session.pk]), {"model": model}, follow=True)


def settled(pull_id: int, timeout: float = 20) -> ModelPull:
    deadline = time.monotonic() + timeout
    while (pull := ModelPull.objects.get(pk=pull_id)).status == ModelPull.Status.PULLING:
        assert time.monotonic() < deadline, f"the pull is still running after {timeout} s: {pull.stage}"
        time.sleep(0.05)
    return pull


def test_it_downloads_the_model_into_ollama_and_says_so(alice_client, alice_session, fake_ollama):
    response = start(alice_client, alice_session)
    assert "Downloading qwen3:8b into Ollama" in response.content.decode()
    pull = settled(ModelPull.objects.get().pk)
    assert pull.status == ModelPull.Status.COMPLETE and pull.model == "qwen3:8b"
    assert "qwen3:8b" in fake_ollama.models
    assert [r["json"] for r in fake_ollama.requests if r["path"] == "/api/pull"] == [
        {"model": "qwen3:8b", "stream": True}
    ]


@pytest.mark.parametrize("name", ["", "   ", "rm -rf /", "a" * 300, "<script>", "llama3.2; ollama rm x"])
def test_a_name_that_is_not_a_model_name_is_refused_and_nothing_starts(alice_client, alice_session, fake_ollama, name):
    response = start(alice_client, alice_session, name)
    assert "Write a model name as Ollama lists it" in response.content.decode()
    assert not ModelPull.objects.exists()
    assert not [r for r in fake_ollama.requests if r["path"] == "/api/pull"]


def test_a_model_already_downloading_is_not_started_twice(alice_client, alice, alice_session, fake_ollama):
    ModelPull.objects.create(requested_by=alice, model="qwen3:8b")
    response = start(alice_client, alice_session)
    assert "qwen3:8b is already being downloaded." in response.content.decode()
    assert ModelPull.objects.count() == 1


def test_a_pull_its_process_left_behind_does_not_block_a_new_one(alice_client, alice, alice_session, fake_ollama):
    from datetime import timedelta

    from django.utils import timezone

    old = ModelPull.objects.create(requested_by=alice, model="qwen3:8b")
    ModelPull.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    start(alice_client, alice_session)
    old.refresh_from_db()
    assert old.status == ModelPull.Status.FAILED and "start again" in old.error
    new = ModelPull.objects.exclude(pk=old.pk).get()
    assert settled(new.pk).status == ModelPull.Status.COMPLETE


def test_it_rejects_another_users_session(client, bob, alice_session, fake_ollama):
    client.force_login(bob)
    assert start(client, alice_session).status_code == 404
    assert not ModelPull.objects.exists()


def test_it_is_refused_over_the_sessions_action_limit(alice_client, alice_session, fake_ollama, actions_used_up):
    from tests.fixtures.users import LIMIT_SENTENCE

    actions_used_up(alice_session)
    assert LIMIT_SENTENCE in start(alice_client, alice_session).content.decode()
    assert not ModelPull.objects.exists()
