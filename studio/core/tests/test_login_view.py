import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery"


def sign_in(password: str, *, username: str = "alice", address: str = "192.0.2.10", path: str = "/accounts/login/"):
    client = Client(REMOTE_ADDR=address)
    data = {"username": username, "password": password}
    if path.startswith("/admin/"):
        data["next"] = "/admin/"
    return client, client.post(path, data)


@pytest.fixture(autouse=True)
def sign_in_required(settings):
    settings.LOCAL_AUTO_LOGIN = False


def test_the_right_password_signs_in(alice):
    client, response = sign_in(RIGHT)
    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(alice.pk)


def test_after_five_wrong_passwords_even_the_right_one_waits_with_a_clear_message(alice):
    for _ in range(5):
        _, response = sign_in("wrong")
        assert "Please enter a correct username and password" in response.content.decode()
    client, response = sign_in(RIGHT)
    assert response.status_code == 200
    assert "Too many wrong passwords for this account from your address. Wait 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_four_wrong_passwords_still_let_the_right_one_in_and_it_starts_the_count_afresh(alice):
    for _ in range(4):
        sign_in("wrong")
    assert sign_in(RIGHT)[1].status_code == 302
    for _ in range(4):
        sign_in("wrong")
    assert sign_in(RIGHT)[1].status_code == 302


def test_the_lockout_is_per_username_and_address(alice, bob):
    for _ in range(5):
        sign_in("wrong", username="ALICE ")
    assert "Too many wrong passwords" in sign_in(RIGHT)[1].content.decode()
    assert sign_in(RIGHT, address="192.0.2.99")[1].status_code == 302
    assert sign_in(RIGHT, username="bob")[1].status_code == 302


def test_it_ends_after_the_lockout_time(alice, settings):
    import time

    from studio.core.services import login_throttle

    settings.LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(5):
        sign_in("wrong")
    assert "Wait 1 minute and try again" in sign_in(RIGHT)[1].content.decode()
    deadline = time.monotonic() + 15
    while login_throttle.locked("alice", "192.0.2.10") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sign_in(RIGHT)[1].status_code == 302


def test_the_admin_sign_in_is_throttled_too(admin_user):
    for _ in range(5):
        sign_in("wrong", username="admin", path="/admin/login/")
    _, response = sign_in("password", username="admin", path="/admin/login/")
    assert "Too many wrong passwords" in response.content.decode()
    assert sign_in("password", username="admin", path="/admin/login/", address="192.0.2.77")[1].status_code == 302
