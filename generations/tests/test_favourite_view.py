"""POST gallery/<output_id>/favourite/: mark or unmark a favourite."""

from django.urls import reverse

from generations.models import MediaOutput

from .test_gallery_view import stored_output


def url(output) -> str:
    return reverse("generations:favourite", args=[output.pk])


def test_it_marks_and_unmarks_a_favourite(alice_client, make_generation):
    output = stored_output(make_generation())
    response = alice_client.post(url(output), {"favourite": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'aria-pressed="true"' in response.content.decode()
    assert MediaOutput.objects.get(pk=output.pk).favourite is True
    response = alice_client.post(url(output), {"favourite": "0"})
    assert response.status_code == 302 and response.url == reverse("generations:viewer", args=[output.pk]) + "?"
    assert MediaOutput.objects.get(pk=output.pk).favourite is False


def test_it_rejects_another_users_output(client, bob, make_generation):
    output = stored_output(make_generation())
    client.force_login(bob)
    assert client.post(url(output), {"favourite": "1"}).status_code == 404
    assert MediaOutput.objects.get(pk=output.pk).favourite is False


def test_it_takes_only_post(alice_client, make_generation):
    output = stored_output(make_generation())
    assert alice_client.get(url(output)).status_code == 405
