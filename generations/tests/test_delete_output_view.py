"""POST gallery/<output_id>/delete/: the output and its file go; the generation stays."""

from pathlib import Path

from django.urls import reverse

from generations.models import Generation, MediaOutput

from .test_gallery_view import stored_output


def url(output, query="") -> str:
    return reverse("generations:delete_output", args=[output.pk]) + (f"?{query}" if query else "")


def test_it_deletes_the_output_and_its_file_and_shows_the_next_one(alice_client, make_generation):
    generation = make_generation()
    older, newer = stored_output(generation, name="a.png"), stored_output(generation, name="b.png")
    path = Path(newer.file.path)
    assert path.exists()
    response = alice_client.post(url(newer, "kind=image"))
    assert response.status_code == 302
    assert response.url == reverse("generations:viewer", args=[older.pk]) + "?kind=image"
    assert not MediaOutput.objects.filter(pk=newer.pk).exists() and not path.exists()
    assert Generation.objects.filter(pk=generation.pk).exists() and MediaOutput.objects.filter(pk=older.pk).exists()
    response = alice_client.post(url(older))
    assert response.url == reverse("generations:all_outputs") + "?"


def test_it_rejects_another_users_output_and_deletes_nothing(client, bob, make_generation):
    output = stored_output(make_generation())
    client.force_login(bob)
    assert client.post(url(output)).status_code == 404
    assert MediaOutput.objects.filter(pk=output.pk).exists() and Path(output.file.path).exists()


def test_it_takes_only_post(alice_client, make_generation):
    output = stored_output(make_generation())
    assert alice_client.get(url(output)).status_code == 405
    assert MediaOutput.objects.filter(pk=output.pk).exists()
