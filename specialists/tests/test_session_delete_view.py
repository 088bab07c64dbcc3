from django.urls import reverse

from specialists.models import Conversation, Message, Role
from studio.core.models import Session


def with_a_message(session) -> Session:
    Conversation.objects.create(session=session).append_message(Role.USER, "a lighthouse at dusk")
    return session


def delete(client, session):
    return client.post(reverse("specialists:session_delete", args=[session.pk]), follow=True)


def test_it_deletes_my_session_with_its_conversation(alice_client, alice_session):
    with_a_message(alice_session)
    response = delete(alice_client, alice_session)
    assert "Deleted “Lighthouse at dusk”." in response.content.decode()
    assert not Session.objects.exists() and not Message.objects.exists()


def test_it_rejects_another_users_session_and_deletes_nothing(client, bob, alice_session):
    with_a_message(alice_session)
    client.force_login(bob)
    assert delete(client, alice_session).status_code == 404
    assert Session.objects.get() == alice_session and Message.objects.count() == 1


def test_it_needs_a_post(alice_client, alice_session):
    assert alice_client.get(reverse("specialists:session_delete", args=[alice_session.pk])).status_code == 405
    assert Session.objects.filter(pk=alice_session.pk).exists()


def test_it_is_refused_over_the_sessions_action_limit_and_deletes_nothing(alice_client, alice_session, actions_used_up):
    from tests.fixtures.users import LIMIT_SENTENCE

    with_a_message(alice_session)
    actions_used_up(alice_session)
    assert LIMIT_SENTENCE in delete(alice_client, alice_session).content.decode()
    assert Session.objects.filter(pk=alice_session.pk).exists() and Message.objects.count() == 1
