from django.urls import reverse

from specialists.models import Conversation, Phase, Role
from specialists.services import results


def test_it_goes_back_to_refinement_with_the_result_as_context(alice_client, make_generation, listener, monkeypatch):
    generation = make_generation()
    woken = []
    monkeypatch.setattr(results.supervisor, "wake_sync", woken.append)
    response = alice_client.post(reverse("specialists:refine", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    conversation = Conversation.objects.current(generation.session)
    conversation.refresh_from_db()
    assert conversation.phase == Phase.REFINEMENT
    last = conversation.messages.order_by("-order").first()
    assert last.role == Role.USER and last.generation_id == generation.pk
    assert "refine" in last.content.lower()
    # the consumers render and append it
    listener.drain(until=lambda events: {"type": "studio.message", "message_id": last.pk} in events)
    # whichever process drives the conversation is told to carry on
    assert woken == [conversation.pk]


def test_it_rejects_another_users_generation(client, bob, make_generation):
    generation = make_generation()
    client.force_login(bob)
    assert client.post(reverse("specialists:refine", args=[generation.pk])).status_code == 404
    assert Conversation.objects.current(generation.session).phase == Phase.GENERATING


def test_it_is_refused_over_the_sessions_action_limit_and_changes_nothing(
    alice_client, make_generation, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    generation = make_generation()
    conversation = Conversation.objects.current(generation.session)
    count = conversation.messages.count()
    actions_used_up(generation.session)
    response = alice_client.post(reverse("specialists:refine", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and LIMIT_SENTENCE in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.phase == Phase.GENERATING and conversation.messages.count() == count
