import threading
import time

import pytest
from django.urls import reverse

from specialists.models import ModelPull
from specialists.services import pulls

pytestmark = pytest.mark.django_db(transaction=True)


def cancel(client, pull):
    return client.post(reverse("specialists:model_pull_cancel", args=[pull.pk]), HTTP_HX_REQUEST="true")


def test_cancelling_stops_the_download_and_nothing_is_installed(alice_client, alice, fake_ollama):
    fake_ollama.token_delay = 0.3  # eight progress lines: about 2.4 s
    pull = pulls.start(alice, "qwen3:8b", in_background=False)
    worker = threading.Thread(target=pulls.run, args=(pull.pk,))
    worker.start()
    deadline = time.monotonic() + 10
    while not ModelPull.objects.get(pk=pull.pk).stage and time.monotonic() < deadline:
        time.sleep(0.05)
    response = cancel(alice_client, pull)
    assert response.status_code == 200 and "cancelling…" in response.content.decode()
    worker.join(15)
    pull.refresh_from_db()
    assert pull.status == ModelPull.Status.CANCELLED
    # The fake's own record of how the download ended, not a guess at how long it would have taken.
    deadline = time.monotonic() + 15
    while not fake_ollama.pull_endings() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_ollama.pull_endings() == [("qwen3:8b", "abandoned")]
    assert "qwen3:8b:latest" not in fake_ollama.models and "qwen3:8b" not in fake_ollama.models


def test_a_finished_pull_cannot_be_cancelled(alice_client, alice):
    pull = ModelPull.objects.create(requested_by=alice, model="qwen3:8b", status="complete")
    assert "installed" in cancel(alice_client, pull).content.decode()
    pull.refresh_from_db()
    assert pull.status == ModelPull.Status.COMPLETE and not pull.cancel_requested


def test_it_rejects_another_users_pull(client, alice, bob):
    pull = ModelPull.objects.create(requested_by=alice, model="qwen3:8b")
    client.force_login(bob)
    assert cancel(client, pull).status_code == 404
    pull.refresh_from_db()
    assert not pull.cancel_requested


def test_it_needs_a_post(alice_client, alice):
    pull = ModelPull.objects.create(requested_by=alice, model="qwen3:8b")
    assert alice_client.get(reverse("specialists:model_pull_cancel", args=[pull.pk])).status_code == 405


def test_a_name_ollama_does_not_have_fails_with_what_to_check(alice, fake_ollama):
    fake_ollama.fail_next("error_line", path="/api/pull")
    pull = pulls.start(alice, "no-such-model", in_background=False)
    assert pulls.run(pull.pk) == ModelPull.Status.FAILED
    pull.refresh_from_db()
    assert "Ollama has no model called no-such-model" in pull.error and "ollama.com/library" in pull.error
