"""What a person sees when a page is missing or the studio breaks: the studio's own pages, not Django's."""

from django.test import RequestFactory
from django.views.defaults import server_error


def test_a_missing_or_foreign_page_is_the_studios_own_404(alice_client, alice_session, bob):
    from studio.core.models import Session

    foreign = Session.objects.create(owner=bob, title="Bob's")
    for url in ("/sessions/999999/", f"/sessions/{foreign.pk}/", "/no/such/page/"):
        response = alice_client.get(url)
        html = response.content.decode()
        assert response.status_code == 404
        assert "Nothing here" in html and "Back to your sessions" in html and 'class="topbar"' in html
        assert "Bob&#x27;s" not in html


def test_a_server_error_is_the_studios_own_500_and_needs_no_request_context(db):
    response = server_error(RequestFactory().get("/sessions/1/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and "Nothing you made is lost" in html
    assert "/static/css/studio.css" in html
