from django.urls import reverse

from .test_gallery_view import stored_output


def test_download_is_an_attachment_with_the_original_name(alice_client, make_generation):
    output = stored_output(make_generation(), name="fox.png")
    response = alice_client.get(reverse("generations:download", args=[output.pk]))
    assert response.status_code == 200
    assert 'attachment; filename="fox.png"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"\x89PNG fake"


def test_another_users_download_is_404(client, bob, make_generation):
    output = stored_output(make_generation())
    client.force_login(bob)
    assert client.get(reverse("generations:download", args=[output.pk])).status_code == 404


def test_an_output_without_its_original_name_downloads_under_its_stored_name(alice_client, make_generation):
    from .test_gallery_view import stored_output

    output = stored_output(make_generation(), name="kept_name.png")
    output.original_filename = ""
    output.save(update_fields=["original_filename"])

    response = alice_client.get(reverse("generations:download", args=[output.pk]))

    stored_name = output.file.name.rsplit("/", 1)[-1]
    assert "/" in output.file.name and stored_name.startswith("kept_name")
    assert response["Content-Disposition"] == f'attachment; filename="{stored_name}"'
