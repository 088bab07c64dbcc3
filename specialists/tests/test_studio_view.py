import pytest
from django.urls import reverse

from specialists.models import Conversation, Message, Role
from tests.fixtures.conversations import put_in_phase


def test_it_shows_the_conversation_with_escaped_model_text(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    conversation.append_message(Role.USER, "a lighthouse")
    conversation.append_message(Role.STYLE, "<script>alert('x')</script> teal and amber")
    response = alice_client.get(reverse("specialists:studio", args=[alice_session.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "a lighthouse" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; teal and amber" in html
    assert "<script>alert('x')</script>" not in html
    assert f'ws-connect="/ws/sessions/{alice_session.pk}/"' in html


def test_it_rejects_another_users_session(client, bob, alice_session):
    client.force_login(bob)
    response = client.get(reverse("specialists:studio", args=[alice_session.pk]))
    assert response.status_code == 404


def test_it_returns_404_for_a_session_that_does_not_exist(alice_client):
    assert alice_client.get("/sessions/999999/").status_code == 404


def test_it_shows_the_current_phase(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    put_in_phase(conversation, "refinement")
    html = alice_client.get(reverse("specialists:studio", args=[alice_session.pk])).content.decode()
    assert 'aria-current="step" data-phase="refinement"' in html


@pytest.mark.django_db
def test_it_shows_failed_replies_with_their_reason(alice_client, alice_session):
    conversation = Conversation.objects.current(alice_session)
    conversation.append_message(
        Role.STYLE,
        "",
        status=Message.Status.FAILED,
        metadata={"error": "model x is not installed: run `ollama pull x`"},
    )
    html = alice_client.get(reverse("specialists:studio", args=[alice_session.pk])).content.decode()
    assert "ollama pull x" in html
    assert "Try again" in html
