from django.urls import reverse

from studio.core.models import Phase, Role


def test_it_goes_back_to_refinement_with_the_result_as_context(alice_client, make_generation, listener):
    generation = make_generation()
    response = alice_client.post(reverse("generations:refine", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    conversation = generation.conversation
    conversation.refresh_from_db()
    assert conversation.phase == Phase.REFINEMENT
    last = conversation.messages.order_by("-order").first()
    assert last.role == Role.USER and last.metadata["refine_generation_id"] == generation.pk
    assert "refine" in last.content.lower()
    events = listener.drain()
    assert {"type": "studio.message", "message_id": last.pk} in events  # the consumers render and append it
    assert any(e["type"] == "studio.kick" for e in events)


def test_it_rejects_another_users_generation(client, bob, make_generation):
    generation = make_generation()
    client.force_login(bob)
    assert client.post(reverse("generations:refine", args=[generation.pk])).status_code == 404
    generation.conversation.refresh_from_db()
    assert generation.conversation.phase == Phase.GENERATING
