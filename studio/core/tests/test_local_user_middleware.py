import pytest
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


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED", "HTTP_X_REAL_IP"],
)
def test_a_request_through_a_proxy_on_this_machine_never_gets_the_local_user(client, db, header):
    response = client.get("/", REMOTE_ADDR="127.0.0.1", **{header: "198.51.100.7"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not get_user_model().objects.filter(username="local").exists()


@override_settings(LOCAL_AUTO_LOGIN=False)
def test_a_line_break_in_the_path_of_an_anonymous_htmx_request_is_quoted_not_a_500(client, db):
    response = client.get("/sessions/%0d%0aSet-Cookie:x=1/", HTTP_HX_REQUEST="true")
    assert response.status_code == 401
    assert "\r" not in response["HX-Redirect"] and "\n" not in response["HX-Redirect"]
    assert response["HX-Redirect"].startswith("/accounts/login/?next=%2Fsessions%2F%0D%0A")


def test_the_local_user_is_made_once_without_a_password_and_signed_in_on_each_new_browser(client, db):
    from django.test import Client

    client.get("/", REMOTE_ADDR="127.0.0.1")
    other_browser = Client()
    assert other_browser.get("/", REMOTE_ADDR="::1").wsgi_request.user.username == "local"
    [user] = get_user_model().objects.filter(username="local")
    assert not user.has_usable_password()


def test_the_local_user_opens_the_admin_on_loopback(client, db):
    response = client.get("/admin/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200 and b"Site administration" in response.content
    user = response.wsgi_request.user
    assert (user.username, user.is_staff, user.is_superuser) == ("local", True, True)


def test_a_local_user_made_before_it_ran_the_admin_is_given_it(client, db):
    get_user_model().objects.create(username="local")
    assert client.get("/admin/", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.parametrize(
    "meta", [{"REMOTE_ADDR": "192.0.2.10"}, {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1"}]
)
def test_the_admin_asks_for_its_own_sign_in_from_anywhere_else(client, db, meta):
    response = client.get("/admin/", **meta)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not get_user_model().objects.filter(username="local").exists()


@override_settings(LOCAL_AUTO_LOGIN=False)
def test_an_exposed_install_never_opens_the_admin_without_sign_in(client, db):
    response = client.get("/admin/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@override_settings(LOCAL_AUTO_LOGIN=False)
def test_a_signed_out_visit_comes_back_to_the_page_asked_for(client, db):
    response = client.get("/sessions/12/?tab=gallery")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/sessions/12/%3Ftab%3Dgallery"
    response = client.get("/sessions/12/?tab=gallery", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Fsessions%2F12%2F"


@pytest.mark.parametrize("path", ["/accounts/login/", "/healthz", "/static/studio.css"])
@override_settings(LOCAL_AUTO_LOGIN=False)
def test_the_sign_in_page_health_check_and_static_files_need_no_sign_in(client, db, path):
    response = client.get(path)
    assert not (response.status_code == 302 and response["Location"].startswith("/accounts/login/"))
    assert response.status_code != 401
