import re

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


def test_it_refuses_an_overlong_title_with_a_visible_error_and_keeps_the_idea(alice_client, alice):
    response = alice_client.post(reverse("specialists:session_create"), {"idea": "a fox", "title": "t" * 201})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Title: Ensure this value has at most 200 characters (it has 201)." in html
    assert ">a fox</textarea>" in html
    assert not Session.objects.filter(owner=alice).exists()


def test_it_pages_the_session_list_so_every_session_can_be_reached(alice_client, alice):
    from specialists.services.session_list import SESSIONS_PER_PAGE

    for number in range(SESSIONS_PER_PAGE + 3):
        Session.objects.create(owner=alice, title=f"Session number {number:03d}")
    first = alice_client.get("/").content.decode()
    second = alice_client.get("/?page=2").content.decode()
    assert "Session number 000" not in first and "Session number 000" in second
    assert f"Session number {SESSIONS_PER_PAGE + 2:03d}" in first
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert "Page 2 of 2" in second and 'href="?page=1"' in second
    assert alice_client.get("/?page=junk").status_code == 200


def test_each_session_shows_its_latest_picture_its_phase_and_is_newest_first(alice_client, alice, make_generation):
    from generations.tests.test_gallery_view import stored_output
    from specialists.models import Conversation, Phase

    generation = make_generation()  # in alice's "Lighthouse at dusk", a generating conversation
    stored_output(generation, name="old.png")
    latest = stored_output(generation, name="new.png")
    video = stored_output(generation, b"\x00", "clip.mp4", "video/mp4", kind="video")
    quiet = Session.objects.create(owner=alice, title="Quiet one")
    Conversation.objects.create(session=quiet, phase=Phase.REFINEMENT)
    Session.objects.filter(pk=generation.session_id).update(updated_at="2026-01-01T00:00:00Z")
    html = alice_client.get("/").content.decode()
    assert f'src="{reverse("generations:media", args=[latest.pk])}"' in html
    assert reverse("generations:media", args=[video.pk]) not in html  # a thumbnail is a picture
    assert '<span class="badge">Generating</span>' in html and '<span class="badge">Refinement</span>' in html
    assert html.index("Quiet one") < html.index("Lighthouse at dusk")
    assert html.count('class="session-thumb is-empty"') == 1


def test_the_idea_box_is_empty_and_limited_to_what_can_be_stored(alice_client, settings):
    settings.MESSAGE_MAX_CHARS = 1234

    html = alice_client.get(reverse("specialists:home")).content.decode()

    assert re.search(r'<textarea id="id_idea" name="idea" rows="3" maxlength="1234"[^>]*required></textarea>', html)
