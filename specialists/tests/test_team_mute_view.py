"""The team bar's Mute switch: POST sessions/<id>/team/<role>/mute/."""

import pytest
from django.urls import reverse

from specialists.models import Role
from studio.core.models import Session

pytestmark = pytest.mark.django_db


def url(session, role=Role.STORY) -> str:
    return reverse("specialists:team_mute", args=[session.pk, role])


def test_it_mutes_a_specialist_and_redraws_the_team_bar(alice_client, alice_session):
    alice_session.settings = {"concurrent": True, "auto_refine": {"on": True}}
    alice_session.save()
    response = alice_client.post(url(alice_session), {"muted": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-label="Mute Saga"' in html and html.count('aria-pressed="true"') == 1
    alice_session.refresh_from_db()
    assert alice_session.settings == {"concurrent": True, "auto_refine": {"on": True}, "muted": [Role.STORY]}


def test_muting_twice_and_unmuting_twice_are_idempotent(alice_client, alice_session):
    for _ in range(2):
        alice_client.post(url(alice_session), {"muted": "1"})
    alice_client.post(url(alice_session, Role.STYLE), {"muted": "1"})
    alice_session.refresh_from_db()
    assert alice_session.settings["muted"] == [Role.STORY, Role.STYLE]
    for _ in range(2):
        response = alice_client.post(url(alice_session), {"muted": "0"})
    assert response.status_code == 302 and response.url == alice_session.get_absolute_url()
    alice_session.refresh_from_db()
    assert alice_session.settings["muted"] == [Role.STYLE]


def test_it_rejects_another_users_session(client, bob, alice_session):
    client.force_login(bob)
    response = client.post(url(alice_session), {"muted": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    assert Session.objects.get(pk=alice_session.pk).settings == {}


@pytest.mark.parametrize("role", ["artist", "system", "nobody"])
def test_it_rejects_a_role_that_is_not_a_specialist(alice_client, alice_session, role):
    assert alice_client.post(url(alice_session, role), {"muted": "1"}).status_code == 404
    alice_session.refresh_from_db()
    assert alice_session.settings == {}


def test_it_takes_only_post(alice_client, alice_session):
    assert alice_client.get(url(alice_session)).status_code == 405
