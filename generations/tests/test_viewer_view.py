"""The viewer: GET gallery/<output_id>/, one output with its parameters and its neighbours."""

from django.urls import reverse

from generations.models import MediaOutput

from .test_gallery_view import stored_output


def url(output, query="") -> str:
    return reverse("generations:viewer", args=[output.pk]) + (f"?{query}" if query else "")


def test_it_shows_the_picture_with_its_parameters_and_actions(alice_client, make_generation):
    generation = make_generation(positive_prompt="a fox <b>asleep</b>")
    output = stored_output(generation)
    html = alice_client.get(url(output)).content.decode()
    assert f'<img src="{reverse("generations:media", args=[output.pk])}"' in html
    assert "a fox &lt;b&gt;asleep&lt;/b&gt;" in html and "<b>asleep</b>" not in html
    assert "1234" in html and "6 · 6.0" in html
    for action in ("download", "rework", "reproduce", "delete_output", "favourite"):
        target = output.pk if action in ("download", "delete_output", "favourite") else generation.pk
        assert reverse(f"generations:{action}", args=[target]) in html, action
    # Every action is a POST the CSRF check lets through only with the page's token.
    assert html.count('name="csrfmiddlewaretoken"') == html.count('method="post"') >= 4


def test_newer_and_older_follow_the_filters(alice_client, make_generation):
    generation = make_generation()
    oldest, middle, newest = (stored_output(generation, name=f"{n}.png") for n in range(3))
    MediaOutput.objects.filter(pk__in=[oldest.pk, newest.pk]).update(favourite=True)
    html = alice_client.get(url(middle)).content.decode()
    assert f'rel="prev" href="{url(newest)}"' in html and f'rel="next" href="{url(oldest)}"' in html
    html = alice_client.get(url(newest, "favourites=1")).content.decode()
    assert f'rel="next" href="{url(oldest, "favourites=1")}"' in html and 'rel="prev"' not in html


def test_a_video_plays_with_controls_and_offers_no_rework(alice_client, make_generation):
    generation = make_generation("video", media_kind="video")
    output = stored_output(generation, b"\x00", "clip.mp4", "video/mp4", kind="video")
    html = alice_client.get(url(output)).content.decode()
    assert f'<video src="{reverse("generations:media", args=[output.pk])}" controls' in html
    assert reverse("generations:rework", args=[generation.pk]) not in html


def test_it_rejects_another_users_output(client, bob, make_generation):
    output = stored_output(make_generation())
    client.force_login(bob)
    assert client.get(url(output)).status_code == 404
