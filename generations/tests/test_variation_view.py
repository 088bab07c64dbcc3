from django.urls import reverse

from generations.models import Generation
from generations.signals import generation_started


def test_it_keeps_the_brief_with_a_new_seed(
    alice_client, make_generation, fake_comfyui, django_capture_on_commit_callbacks
):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    told = []

    def receiver(sender, generation, announce, **kwargs):
        told.append((generation.pk, announce))

    generation_started.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False):
            response = alice_client.post(reverse("generations:variation", args=[generation.pk]), HTTP_HX_REQUEST="true")
    finally:
        generation_started.disconnect(receiver)
    assert response.status_code == 200
    new = Generation.objects.exclude(pk=generation.pk).get()
    assert new.source == generation and new.status == Generation.Status.QUEUED
    assert {k: v for k, v in new.parameters.items() if k != "seed"} == {
        k: v for k, v in generation.parameters.items() if k != "seed"
    }
    assert new.parameters["seed"] != generation.parameters["seed"]
    assert new.workflow["5"]["inputs"]["seed"] == new.parameters["seed"]
    assert told == [(new.pk, True)]  # the chat adds the card and announces it (specialists' side)


def test_it_rejects_another_users_generation(client, bob, make_generation, fake_comfyui):
    generation = make_generation()
    client.force_login(bob)
    assert client.post(reverse("generations:variation", args=[generation.pk])).status_code == 404
    assert Generation.objects.count() == 1


def test_it_is_refused_over_the_sessions_action_limit_and_starts_nothing(
    alice_client, make_generation, fake_comfyui, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    actions_used_up(generation.session)
    response = alice_client.post(reverse("generations:variation", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and LIMIT_SENTENCE in response.content.decode()
    assert Generation.objects.count() == 1
