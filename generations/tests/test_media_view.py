from django.urls import reverse

from .test_gallery_view import stored_output


def test_media_is_served_to_its_owner_only(client, alice, bob, make_generation):
    output = stored_output(make_generation(), data=b"secret pixels")
    client.force_login(bob)
    assert client.get(reverse("generations:media", args=[output.pk])).status_code == 404
    client.force_login(alice)
    response = client.get(reverse("generations:media", args=[output.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"secret pixels"
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "attachment" not in response.get("Content-Disposition", "")


def test_a_video_keeps_its_content_type(alice_client, make_generation):
    output = stored_output(make_generation(), b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4", kind="video")
    response = alice_client.get(reverse("generations:media", args=[output.pk]))
    assert response["Content-Type"] == "video/mp4"


def test_the_media_url_of_a_file_goes_through_the_same_check(client, alice, bob, make_generation):
    output = stored_output(make_generation(), data=b"pixels by path")
    assert output.file.url.startswith("/media/sessions/")
    client.force_login(bob)
    assert client.get(output.file.url).status_code == 404
    client.force_login(alice)
    response = client.get(output.file.url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"pixels by path"


def test_a_path_outside_the_stored_files_is_404(alice_client, make_generation):
    stored_output(make_generation())
    assert alice_client.get("/media/../../studio/settings.py").status_code == 404
    assert alice_client.get("/media/sessions/1/generations/1/%2e%2e/%2e%2e/secret_key").status_code == 404


def test_media_is_not_public(client, make_generation, settings):
    output = stored_output(make_generation())
    settings.LOCAL_AUTO_LOGIN = False
    response = client.get(output.file.url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.get(reverse("generations:media", args=[output.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_file_opened_on_its_own_may_show_itself_and_run_nothing(alice_client, make_generation):
    output = stored_output(make_generation())
    for url in (reverse("generations:media", args=[output.pk]), output.file.url):
        policy = alice_client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
        assert directives["default-src"] == "'none'" and directives["sandbox"] == ""
        assert directives["img-src"] == "'self'" and "script-src" not in directives


def test_the_type_served_is_the_one_the_studio_stored_never_one_guessed_from_the_name(alice_client, make_generation):
    webp = stored_output(make_generation(), b"RIFF\x10\x00\x00\x00WEBPVP8 ", "looks_like.png", "image/webp")
    untyped = stored_output(make_generation(), b"<script>alert(1)</script>", "page.html", "")

    served = alice_client.get(reverse("generations:media", args=[webp.pk]))
    refused_a_type = alice_client.get(reverse("generations:media", args=[untyped.pk]))

    assert served["Content-Type"] == "image/webp"
    assert refused_a_type["Content-Type"] == "application/octet-stream"
    assert refused_a_type["X-Content-Type-Options"] == "nosniff"


def test_media_is_cached_by_the_browser_only(alice_client, make_generation):
    output = stored_output(make_generation())

    response = alice_client.get(reverse("generations:media", args=[output.pk]))

    assert response["Cache-Control"] == "private, max-age=3600"
