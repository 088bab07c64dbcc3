from django.test import override_settings
from django.urls import reverse

from specialists.models import Message, Role
from studio.core.models import Session


def test_it_lists_only_my_sessions(alice_client, alice_session, bob):
    Session.objects.create(owner=bob, title="Bob's secret")
    html = alice_client.get("/").content.decode()
    assert "Lighthouse at dusk" in html
    assert "Bob&#x27;s secret" not in html and "Bob's secret" not in html


def test_starting_a_session_stores_the_idea_as_the_first_message(alice_client, alice):
    response = alice_client.post(reverse("specialists:session_create"), {"idea": "  a fox in the snow  ", "title": ""})
    session = Session.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == session.get_absolute_url()
    assert session.title == "a fox in the snow"
    message = Message.objects.get(conversation__session=session)
    assert (message.role, message.content, message.order) == (Role.USER, "a fox in the snow", 1)


def test_it_rejects_an_empty_idea_and_stores_nothing(alice_client, alice):
    response = alice_client.post(reverse("specialists:session_create"), {"idea": "   "})
    assert response.status_code == 400
    assert not Session.objects.filter(owner=alice).exists()


@override_settings(MESSAGE_MAX_CHARS=50)
def test_it_rejects_an_oversized_idea(alice_client, alice):
    response = alice_client.post(reverse("specialists:session_create"), {"idea": "x" * 51})
    assert response.status_code == 400
    assert "at most 50 characters" in response.content.decode()
    assert not Session.objects.filter(owner=alice).exists()


def test_it_requires_csrf(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("specialists:session_create"), {"idea": "x"}).status_code == 403
