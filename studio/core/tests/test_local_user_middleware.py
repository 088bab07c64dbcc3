from django.contrib.auth import get_user_model
from django.test import override_settings


def test_a_loopback_install_signs_in_the_local_user(client, db):
    response = client.get("/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response.wsgi_request.user.username == "local"


@override_settings(LOCAL_AUTO_LOGIN=False)
def test_an_exposed_install_requires_sign_in(client, db):
    response = client.get("/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not get_user_model().objects.filter(username="local").exists()


def test_a_remote_peer_never_gets_the_local_user(client, db):
    response = client.get("/", REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 302
    assert not get_user_model().objects.filter(username="local").exists()


@override_settings(LOCAL_AUTO_LOGIN=False)
def test_htmx_requests_are_told_to_redirect(client, db):
    response = client.get("/sessions/1/", HTTP_HX_REQUEST="true")
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/accounts/login/")
