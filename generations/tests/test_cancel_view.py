from django.urls import reverse

from generations.models import Generation


def cancel(client, generation, **extra):
    return client.post(reverse("generations:cancel", args=[generation.pk]), HTTP_HX_REQUEST="true", **extra)


def test_it_cancels_a_queued_generation_and_pushes_the_card(alice_client, make_generation, listener):
    generation = make_generation()
    assert cancel(alice_client, generation).status_code == 200
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    card = f'id="generation-{generation.pk}"'
    events = listener.drain(until=lambda events: any('data-status="cancelled"' in e.get("html", "") for e in events))
    cards = [e["html"] for e in events if card in e.get("html", "")]
    assert cards and 'data-status="cancelled"' in cards[-1]


def test_it_cancels_the_generation_asked_for_and_no_other(alice_client, make_generation):
    kept, cancelled = make_generation(), make_generation()

    response = cancel(alice_client, cancelled)

    assert response.status_code == 200 and response.content.strip() == b""
    assert Generation.objects.get(pk=cancelled.pk).status == Generation.Status.CANCELLED
    assert Generation.objects.get(pk=kept.pk).status == Generation.Status.QUEUED


def test_a_running_generation_is_flagged_for_its_worker(alice_client, make_generation, listener):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(status="running", server="http://127.0.0.1:1")
    from django.utils import timezone

    Generation.objects.filter(pk=generation.pk).update(heartbeat_at=timezone.now())
    assert cancel(alice_client, generation).status_code == 200
    generation.refresh_from_db()
    assert generation.status == Generation.Status.RUNNING and generation.cancel_requested
    listener.drain(until=lambda events: any("cancelling" in e.get("html", "") for e in events))


def test_a_running_generation_whose_worker_died_is_cancelled_at_once(alice_client, make_generation):
    from datetime import timedelta

    from django.utils import timezone

    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    cancel(alice_client, generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED


def test_a_finished_generation_stays_as_it_is(alice_client, make_generation):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    assert cancel(alice_client, generation).status_code == 200
    generation.refresh_from_db()
    assert generation.status == Generation.Status.COMPLETE


def test_it_rejects_another_users_generation(client, bob, make_generation):
    generation = make_generation()
    client.force_login(bob)
    assert cancel(client, generation).status_code == 404
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED and not generation.cancel_requested


def test_it_requires_post(alice_client, make_generation):
    assert alice_client.get(reverse("generations:cancel", args=[make_generation().pk])).status_code == 405


def test_it_requires_the_csrf_token(alice, make_generation):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    generation = make_generation()
    assert cancel(client, generation).status_code == 403
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED


def test_it_is_refused_over_the_sessions_action_limit_and_changes_nothing(
    alice_client, make_generation, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    generation = make_generation()
    actions_used_up(generation.session)
    response = cancel(alice_client, generation)
    assert response.status_code == 429 and LIMIT_SENTENCE in response.content.decode()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED and not generation.cancel_requested
