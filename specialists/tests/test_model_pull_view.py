from django.urls import reverse

from specialists.models import ModelPull


def test_it_shows_the_progress_and_keeps_polling_while_it_runs(alice_client, alice):
    pull = ModelPull.objects.create(
        requested_by=alice, model="qwen3:8b", stage="pulling 3a4b5c", completed=250_000_000, total=1_000_000_000
    )
    html = alice_client.get(reverse("specialists:model_pull", args=[pull.pk])).content.decode()
    assert '<progress max="100" value="25"' in html and "pulling 3a4b5c" in html
    assert 'hx-trigger="every 1s"' in html and "Cancel</button>" in html


def test_a_finished_pull_stops_polling_and_says_how_it_ended(alice_client, alice):
    pull = ModelPull.objects.create(requested_by=alice, model="nope", status="failed", error="Ollama has no model")
    html = alice_client.get(reverse("specialists:model_pull", args=[pull.pk])).content.decode()
    assert "Ollama has no model" in html and "hx-trigger" not in html


def test_it_rejects_another_users_pull(client, alice, bob):
    pull = ModelPull.objects.create(requested_by=alice, model="qwen3:8b")
    client.force_login(bob)
    assert client.get(reverse("specialists:model_pull", args=[pull.pk])).status_code == 404


def test_it_shows_the_pull_asked_for_among_the_users_pulls(alice_client, alice):
    ModelPull.objects.create(requested_by=alice, model="llama3.2", status="failed", error="first one")
    second = ModelPull.objects.create(requested_by=alice, model="qwen3:8b", status="failed", error="second one")

    html = alice_client.get(reverse("specialists:model_pull", args=[second.pk])).content.decode()

    assert "second one" in html and "first one" not in html
