"""The gallery: GET gallery/ (every session's outputs, filtered, paged) and a session's gallery/ shortcut."""

from django.core.files.base import ContentFile
from django.urls import reverse

from generations.models import Generation, MediaOutput
from generations.services.gallery import PER_PAGE
from studio.core.models import Session

GALLERY = reverse("generations:all_outputs")


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


def viewer_link(output, query="") -> str:
    return reverse("generations:viewer", args=[output.pk]) + (f"?{query}" if query else "")


def test_the_gallery_shows_every_sessions_outputs_newest_first(alice_client, alice, alice_session, make_generation):
    first = stored_output(make_generation())
    other_session = Session.objects.create(owner=alice, title="Harbour")
    elsewhere = stored_output(Generation.objects.create(session=other_session, parameters={}), name="y.png")
    html = alice_client.get(GALLERY).content.decode()
    assert f'href="{viewer_link(elsewhere)}"' in html and f'href="{viewer_link(first)}"' in html
    assert html.index(f'id="output-{elsewhere.pk}"') < html.index(f'id="output-{first.pk}"')
    assert f'<img src="{reverse("generations:media", args=[first.pk])}"' in html


def test_it_filters_by_session_kind_and_favourites(alice_client, alice, alice_session, make_generation):
    picture = stored_output(make_generation())
    video = stored_output(make_generation("video", media_kind="video"), b"\x00", "c.mp4", "video/mp4", kind="video")
    other = Session.objects.create(owner=alice, title="Harbour")
    theirs = stored_output(Generation.objects.create(session=other, parameters={}), name="y.png")
    MediaOutput.objects.filter(pk=theirs.pk).update(favourite=True)

    def shown(query: str) -> set[int]:
        html = alice_client.get(f"{GALLERY}?{query}").content.decode()
        return {o.pk for o in (picture, video, theirs) if f'id="output-{o.pk}"' in html}

    assert shown(f"session={alice_session.pk}") == {picture.pk, video.pk}
    assert shown("kind=video") == {video.pk}
    assert shown("kind=image") == {picture.pk, theirs.pk}
    assert shown("favourites=1") == {theirs.pk}
    assert shown(f"session={alice_session.pk}&favourites=1") == set()
    # Unreadable filters are no filters, never an error.
    assert shown("session=abc&kind=<script>") == {picture.pk, video.pk, theirs.pk}
    # The viewer keeps the filters, for its newer and older links.
    html = alice_client.get(f"{GALLERY}?kind=video").content.decode()
    assert f'href="{viewer_link(video, "kind=video")}"' in html


def test_a_session_with_nothing_matching_says_so(alice_client, alice_session):
    html = alice_client.get(f"{GALLERY}?session={alice_session.pk}").content.decode()
    assert "Nothing matches these filters." in html
    assert "Nothing generated yet" in alice_client.get(GALLERY).content.decode()


def test_it_is_paged_keeping_the_filters(alice_client, alice_session, make_generation):
    generation = make_generation()
    for number in range(PER_PAGE + 2):
        stored_output(generation, name=f"{number}.png")
    first = alice_client.get(f"{GALLERY}?kind=image").content.decode()
    assert first.count('class="gallery-tile') == PER_PAGE and "Page 1 of 2" in first
    assert 'href="?kind=image&amp;page=2"' in first
    second = alice_client.get(f"{GALLERY}?kind=image&page=2").content.decode()
    assert second.count('class="gallery-tile') == 2


def test_prompts_are_escaped(alice_client, alice_session, make_generation):
    stored_output(make_generation(positive_prompt="<script>alert(1)</script> a fox"))
    html = alice_client.get(GALLERY).content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; a fox" in html


def test_it_shows_only_the_users_own_outputs(client, bob, alice_session, make_generation):
    output = stored_output(make_generation())
    client.force_login(bob)
    html = client.get(f"{GALLERY}?session={alice_session.pk}").content.decode()
    assert f'id="output-{output.pk}"' not in html and alice_session.title not in html


def test_a_sessions_gallery_is_the_gallery_filtered_by_that_session(alice_client, alice, alice_session):
    other = Session.objects.create(owner=alice, title="Harbour")
    for session in (alice_session, other):
        response = alice_client.get(reverse("generations:gallery", args=[session.pk]))
        assert response.status_code == 302 and response.url == f"{GALLERY}?session={session.pk}"


def test_the_gallery_of_another_users_session_is_404(client, bob, alice_session):
    client.force_login(bob)
    assert client.get(reverse("generations:gallery", args=[alice_session.pk])).status_code == 404


def test_the_session_filter_offers_the_users_own_sessions_and_names_the_chosen_one(
    alice_client, alice, bob, alice_session
):
    harbour = Session.objects.create(owner=alice, title="Harbour at noon")
    Session.objects.create(owner=bob, title="Bob's secret garden")

    everything = alice_client.get(GALLERY).content.decode()
    chosen = alice_client.get(f"{GALLERY}?session={harbour.pk}").content.decode()

    for html in (everything, chosen):
        assert f'<option value="{alice_session.pk}">Lighthouse at dusk</option>' in html
        assert "Bob&#x27;s secret garden" not in html and "secret garden" not in html
    assert "<h1>Gallery</h1>" in everything and "Back to the studio" not in everything
    assert f'<option value="{harbour.pk}" selected>Harbour at noon</option>' in chosen
    assert '<h1>Gallery <span class="muted">· Harbour at noon</span></h1>' in chosen
    assert f'href="{harbour.get_absolute_url()}">Back to the studio</a>' in chosen
