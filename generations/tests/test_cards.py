"""The brief card and the generation card as the chat shows them (escaped, with the right actions)."""

from django.urls import reverse

from generations.models import Generation
from generations.services.cards import render_card

from .test_gallery_view import stored_output


def test_a_queued_card_offers_cancel_and_shows_where_the_preview_goes(make_generation):
    generation = make_generation()
    html = render_card(generation, oob=True)
    assert html.startswith(f'<div id="generation-{generation.pk}"') and 'hx-swap-oob="outerHTML"' in html
    assert f'id="generation-{generation.pk}-preview"' in html and f'id="generation-{generation.pk}-progress"' in html
    assert reverse("generations:cancel", args=[generation.pk]) in html
    assert reverse("generations:variation", args=[generation.pk]) not in html


def test_a_running_card_shows_steps_and_an_eta(make_generation):
    generation = make_generation()
    from datetime import timedelta

    from django.utils import timezone

    Generation.objects.filter(pk=generation.pk).update(
        status="running",
        progress=0.5,
        progress_value=3,
        progress_max=6,
        started_at=timezone.now() - timedelta(seconds=9),
    )
    generation.refresh_from_db()
    html = render_card(generation)
    assert "Step 3/6" in html and "about 9 s left" in html and "hx-swap-oob" not in html


def test_a_card_whose_comfyui_went_away_says_it_waits_and_for_how_long(make_generation, settings):
    settings.COMFYUI_RESTART_WINDOW = 90
    generation = make_generation()
    assert generation.claim("http://gpu-box:8188", "client")
    assert generation.lose_server()
    html = render_card(generation)
    assert "ComfyUI is restarting, waiting…" in html
    assert "It does not answer at http://gpu-box:8188" in html and "for up to 90 s" in html

    assert generation.regain_server()
    assert "ComfyUI is restarting" not in render_card(generation)


def test_a_complete_card_shows_the_result_with_its_actions(make_generation):
    generation = make_generation()
    image = stored_output(generation)
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    generation.refresh_from_db()
    html = render_card(generation)
    assert f'src="{reverse("generations:media", args=[image.pk])}"' in html
    for action in ("generations:variation", "specialists:refine", "generations:rework"):
        assert reverse(action, args=[generation.pk]) in html
    assert reverse("generations:download", args=[image.pk]) in html
    assert reverse("generations:cancel", args=[generation.pk]) not in html
    assert "seed 1234" in html


def test_a_video_result_is_playable(make_generation):
    generation = make_generation("video", media_kind="video")
    clip = stored_output(generation, b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4", kind="video")
    Generation.objects.filter(pk=generation.pk).update(status="complete")
    generation.refresh_from_db()
    assert f'<video src="{reverse("generations:media", args=[clip.pk])}" controls' in render_card(generation)


def test_a_failed_card_shows_the_escaped_error(make_generation):
    generation = make_generation()
    generation.fail("node 3 (SaveVideo) failed: <b>width not divisible by 2</b>")
    html = render_card(generation)
    assert "&lt;b&gt;width not divisible by 2&lt;/b&gt;" in html and "<b>width" not in html
    assert reverse("generations:variation", args=[generation.pk]) in html


def test_with_several_servers_the_card_says_which_one_runs_the_job(make_generation, settings):
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server="http://gpu-b:8188")
    generation.refresh_from_db()
    settings.COMFYUI_URLS = ["http://gpu-a:8188"]
    assert "gpu-b:8188" not in render_card(generation)  # one server: nothing to tell apart
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188"]
    assert "Waiting for ComfyUI on gpu-b:8188…" in render_card(generation)
    Generation.objects.filter(pk=generation.pk).update(status="running", progress_value=2, progress_max=6)
    generation.refresh_from_db()
    assert "Step 2/6" in render_card(generation) and "· on gpu-b:8188" in render_card(generation)


def test_a_moved_job_says_why_on_its_card_until_it_finishes(make_generation):
    generation = make_generation()
    generation.move_to("http://gpu-a:8188", "ComfyUI at http://gpu-b:8188 stopped answering; this job moved to …")
    assert "stopped answering; this job moved to" in render_card(generation)
    Generation.objects.filter(pk=generation.pk).update(status="running")
    generation.refresh_from_db()
    assert generation.complete()
    assert "stopped answering" not in render_card(generation)


def test_a_queued_card_says_its_place_in_line_on_its_server(make_generation, settings):
    settings.COMFYUI_URLS = ["http://gpu-a:8188", "http://gpu-b:8188"]
    first, second, third, elsewhere = (make_generation() for _ in range(4))
    Generation.objects.filter(pk__in=[first.pk, second.pk, third.pk]).update(server="http://gpu-a:8188")
    Generation.objects.filter(pk=elsewhere.pk).update(server="http://gpu-b:8188")
    Generation.objects.filter(pk=first.pk).update(status="running")
    for generation in (first, second, third, elsewhere):
        generation.refresh_from_db()
    assert "in line" not in render_card(first)
    assert "2nd in line on gpu-a:8188…" in render_card(second)
    assert "3rd in line on gpu-a:8188…" in render_card(third)
    assert "Waiting for ComfyUI on gpu-b:8188…" in render_card(elsewhere)  # nobody ahead on its server


def test_when_a_job_ends_the_cards_behind_it_move_up(make_generation, listener):
    from generations.services import runner

    first, second = make_generation(), make_generation()
    Generation.objects.filter(pk=first.pk).update(status="running")
    second.refresh_from_db()
    assert "2nd in line" in render_card(second)
    Generation.objects.filter(pk=first.pk).update(status="complete")
    runner.finish(first)
    progress = f'id="generation-{second.pk}-progress"'
    events = listener.drain(until=lambda got: any(progress in str(e.get("html", "")) for e in got))
    pushed = next(str(e["html"]) for e in events if progress in str(e.get("html", "")))
    assert "Waiting for ComfyUI" in pushed and "in line" not in pushed


def test_the_live_preview_is_framed_in_the_results_shape(make_generation):
    wide = make_generation(checkpoint="sd_xl_base_1.0.safetensors", width=1216, height=832)
    assert '<canvas width="19" height="13"' in render_card(wide)
    square = make_generation(width=512, height=512)
    assert '<canvas width="1" height="1"' in render_card(square)
