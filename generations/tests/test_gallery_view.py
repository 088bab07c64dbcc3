from django.core.files.base import ContentFile
from django.urls import reverse

from generations.models import Generation, MediaOutput


def stored_output(generation, data=b"\x89PNG fake", name="x.png", content_type="image/png", kind="image"):
    output = MediaOutput(
        generation=generation,
        kind=kind,
        content_type=content_type,
        original_filename=name,
        source_key=name,
        size_bytes=len(data),
    )
    output.file.save(name, ContentFile(data))
    return output


def test_the_gallery_shows_outputs_with_their_parameters(alice_client, alice_session, make_generation):
    generation = make_generation()
    output = stored_output(generation)
    html = alice_client.get(reverse("generations:gallery", args=[alice_session.pk])).content.decode()
    assert f'<img src="{reverse("generations:media", args=[output.pk])}"' in html
    assert "a red fox asleep in fresh snow" in html and "seed 1234" in html and "6 steps" in html
    assert reverse("generations:reproduce", args=[generation.pk]) in html
    assert reverse("generations:download", args=[output.pk]) in html


def test_a_video_plays_inline_with_controls(alice_client, alice_session, make_generation):
    generation = make_generation("video", media_kind="video")
    output = stored_output(generation, b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4", kind="video")
    html = alice_client.get(reverse("generations:gallery", args=[alice_session.pk])).content.decode()
    assert f'<video src="{reverse("generations:media", args=[output.pk])}" controls' in html


def test_prompts_are_escaped(alice_client, alice_session, make_generation):
    generation = make_generation(positive_prompt="<script>alert(1)</script> a fox")
    stored_output(generation)
    html = alice_client.get(reverse("generations:gallery", args=[alice_session.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a fox" in html


def test_generations_without_outputs_are_not_listed(alice_client, alice_session, make_generation):
    failed = make_generation()
    Generation.objects.filter(pk=failed.pk).update(status="failed", error="boom")
    html = alice_client.get(reverse("generations:gallery", args=[alice_session.pk])).content.decode()
    assert f'id="gallery-{failed.pk}"' not in html
    assert "Nothing generated yet" in html


def test_the_gallery_of_another_user_is_404(client, bob, alice_session):
    client.force_login(bob)
    assert client.get(reverse("generations:gallery", args=[alice_session.pk])).status_code == 404
