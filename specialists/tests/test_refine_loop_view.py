"""The buttons on the auto-refine card: POST sessions/<id>/refine-loops/<loop_id>/."""

import pytest
from django.urls import reverse

from specialists.models import Message, RefineLoop
from specialists.services import refine_loop
from tests.fixtures.conversations import running_loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop(alice_session):
    return running_loop(alice_session)


def url(loop) -> str:
    return reverse("specialists:refine_loop", args=[loop.conversation.session_id, loop.pk])


def post(client, loop, **data):
    return client.post(url(loop), data, HTTP_HX_REQUEST="true")


def test_stop_ends_the_loop_and_every_browser_redraws_its_card(alice_client, loop, listener, monkeypatch):
    woken = []
    monkeypatch.setattr("specialists.views.supervisor.wake_sync", woken.append)
    response = post(alice_client, loop, action="stop")
    assert response.status_code == 200 and b'role="alert"' not in response.content
    loop.refresh_from_db()
    assert loop.status == RefineLoop.Status.ENDED and loop.ending == RefineLoop.Ending.STOPPED
    notice = loop.conversation.messages.order_by("-order").first()
    assert notice.content.startswith("Auto-refine ended after 1 attempt: you stopped it.")
    listener.drain(until=lambda events: {"type": "studio.message", "message_id": loop.card_id} in events)
    assert woken == [loop.conversation_id]


def test_resume_after_the_artist_spoke_lets_pixel_revise(alice_client, loop):
    refine_loop.pause_for_artist(loop.conversation)
    post(alice_client, loop, action="resume")
    loop.refresh_from_db()
    assert loop.status == RefineLoop.Status.RUNNING
    assert loop.anchor.content == "Auto-refine goes on from attempt 1: Pixel revises its brief."


def test_a_refused_action_says_why_and_changes_nothing(alice_client, loop):
    response = post(alice_client, loop, action="resume")  # it is running
    assert response.status_code == 400
    assert "The loop is already running." in response.content.decode()
    assert RefineLoop.objects.get(pk=loop.pk).status == RefineLoop.Status.RUNNING
    response = post(alice_client, loop, action="keep", review="12345")
    assert "That attempt is not part of this loop." in response.content.decode()
    assert RefineLoop.objects.get(pk=loop.pk).keeper_id == loop.keeper_id


def test_it_rejects_another_users_loop(client, bob, loop):
    client.force_login(bob)
    count = Message.objects.count()
    assert post(client, loop, action="stop").status_code == 404
    assert RefineLoop.objects.get(pk=loop.pk).status == RefineLoop.Status.RUNNING
    assert Message.objects.count() == count


def test_it_rejects_a_loop_of_another_session_under_ones_own(alice_client, alice, loop):
    from studio.core.models import Session

    other = Session.objects.create(owner=alice, title="Other")
    response = alice_client.post(reverse("specialists:refine_loop", args=[other.pk, loop.pk]), {"action": "stop"})
    assert response.status_code == 404
    assert RefineLoop.objects.get(pk=loop.pk).status == RefineLoop.Status.RUNNING


def test_it_only_answers_post(alice_client, loop):
    assert alice_client.get(url(loop)).status_code == 405
    assert RefineLoop.objects.get(pk=loop.pk).status == RefineLoop.Status.RUNNING


def test_it_is_refused_over_the_sessions_action_limit_and_changes_nothing(alice_client, loop, actions_used_up):
    from tests.fixtures.users import LIMIT_SENTENCE

    actions_used_up(loop.conversation.session)
    response = post(alice_client, loop, action="stop")
    assert LIMIT_SENTENCE in response.content.decode()
    assert RefineLoop.objects.get(pk=loop.pk).status == RefineLoop.Status.RUNNING
