import json
import re
import threading
import time
import types
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from generations import tasks
from generations.models import Generation, MediaOutput
from generations.services import generate, runner
from generations.services.cards import render_card
from generations.signals import generation_finished
from generations.tasks import run_generation

RECORDED_WORKFLOWS = Path(__file__).resolve().parents[2] / "tests/recordings/comfyui/weight_free_workflows"


@pytest.fixture(autouse=True)
def no_pause_between_retries(monkeypatch):
    # In-process retries pause a little (tasks.EAGER_BACKOFF_FACTOR), for a ComfyUI that restarts; here nothing
    # restarts, so nothing is waited for (the pause itself: test_in_process_retries_pause_longer_each_time).
    monkeypatch.setattr(tasks, "EAGER_BACKOFF_FACTOR", 0.0)


def run(generation):
    run_generation.apply(args=[generation.pk])
    generation.refresh_from_db()
    return generation


def test_it_runs_an_image_end_to_end(make_generation, fake_comfyui, listener):
    told = []

    def receiver(sender, generation, **kwargs):
        told.append((generation.pk, generation.status))

    generation_finished.connect(receiver)
    try:
        generation = run(make_generation())
    finally:
        generation_finished.disconnect(receiver)
    assert generation.status == Generation.Status.COMPLETE
    assert generation.progress == 1.0 and generation.progress_max == 6
    assert generation.prompt_id and generation.server == fake_comfyui.url
    output = MediaOutput.objects.get(generation=generation)
    assert output.kind == "image" and output.content_type == "image/png"
    with output.file.open("rb") as handle:
        assert Image.open(handle).size == (output.width, output.height)

    def card_and_progress(events):
        html = " ".join(e.get("html", "") for e in events)
        return f'id="generation-{generation.pk}"' in html and "Step " in html  # progress was pushed while sampling

    listener.drain(until=card_and_progress)
    # the rest of the studio is told (the conversation's side: specialists/tests/test_generation_results.py)
    assert told == [(generation.pk, Generation.Status.COMPLETE)]


def test_it_saves_a_video(make_generation, fake_comfyui):
    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    generation = run(make_generation("video", media_kind="video", frames=8))
    assert generation.status == Generation.Status.COMPLETE, generation.error
    kinds = set(MediaOutput.objects.filter(generation=generation).values_list("kind", "content_type"))
    assert ("video", "video/mp4") in kinds


def test_a_missing_checkpoint_fails_with_a_human_message(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.set_checkpoints(["something_else.safetensors"])
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert "is not installed in ComfyUI" in generation.error
    assert "something_else.safetensors" in generation.error


def test_an_execution_error_fails_with_the_node_and_reason(make_generation, fake_comfyui):
    fake_comfyui.fail_next_with_execution_error(node_type="VAEDecode", message="out of memory")
    generation = run(make_generation())
    assert generation.status == Generation.Status.FAILED
    assert "VAEDecode" in generation.error and "out of memory" in generation.error


def test_comfyui_down_is_waited_for_within_the_restart_window_then_fails_with_the_fix(
    make_generation, settings, dead_url, monkeypatch
):
    settings.COMFYUI_URLS = [dead_url]
    settings.COMFYUI_RESTART_WINDOW = 0.5
    monkeypatch.setattr(runner, "RECONNECT_POLL", 0.1)
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(server=dead_url)
    started = time.monotonic()
    generation = run(generation)
    assert time.monotonic() - started >= 0.5
    assert generation.status == Generation.Status.FAILED
    assert generation.error == runner.unreachable_for_too_long(dead_url)
    assert "not back within 0.5 s" in generation.error and "python main.py --listen" in generation.error
    assert generation.attempts == 1 and generation.unreachable_since is None


def test_a_hung_comfyui_hits_the_time_limit(make_generation, fake_comfyui, settings):
    settings.GENERATION_TIME_LIMIT = 0.5
    fake_comfyui.hang_next()
    generation = run(make_generation())
    assert generation.status == Generation.Status.FAILED
    assert "did not finish within 0.5 s" in generation.error
    assert fake_comfyui.interrupts


def test_a_generation_cancelled_while_queued_never_reaches_comfyui(make_generation, fake_comfyui):
    generation = make_generation()
    assert generate.cancel(generation)
    generation = run(generation)
    assert generation.status == Generation.Status.CANCELLED
    assert fake_comfyui.prompts == []


@pytest.mark.django_db(transaction=True)
def test_cancel_while_running_interrupts_comfyui(make_generation, fake_comfyui):
    fake_comfyui.step_delay = 0.2
    generation = make_generation(steps=40)
    worker = threading.Thread(target=run_generation.apply, args=([generation.pk],))
    worker.start()
    deadline = time.monotonic() + 10
    while fake_comfyui.running_prompt_id() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    generation.refresh_from_db()
    generate.cancel(generation)
    worker.join(15)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert fake_comfyui.interrupts


def test_running_the_task_twice_submits_once(make_generation, fake_comfyui):
    generation = make_generation()
    run(generation)
    run(generation)
    assert len(fake_comfyui.prompts) == 1


@pytest.mark.parametrize("age, expected_submits", [(5, 0), (600, 1)])
def test_a_running_job_is_only_taken_over_when_its_worker_stopped(make_generation, fake_comfyui, age, expected_submits):
    from datetime import timedelta

    from django.utils import timezone

    generation = make_generation()
    beat = timezone.now() - timedelta(seconds=age)
    Generation.objects.filter(pk=generation.pk).update(status="running", heartbeat_at=beat, server=fake_comfyui.url)
    run(generation)
    assert len(fake_comfyui.prompts) == expected_submits


def submit_directly(fake, generation) -> tuple[str, str]:
    """What a worker that died after submitting left on ComfyUI: (prompt_id, client_id)."""
    from generations.clients.comfyui import ComfyUIClient

    client_id = f"dead-worker-{generation.pk}"
    with ComfyUIClient(fake.url) as client:
        return client.submit(generation.workflow, client_id), client_id


def orphan(generation, fake, prompt_id, client_id):
    from datetime import timedelta

    from django.utils import timezone

    Generation.objects.filter(pk=generation.pk).update(
        status="running",
        server=fake.url,
        prompt_id=prompt_id,
        client_id=client_id,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
    )


def test_a_prompt_finished_while_its_worker_was_gone_is_collected_not_resubmitted(make_generation, fake_comfyui):
    generation = make_generation()
    prompt_id, client_id = submit_directly(fake_comfyui, generation)
    fake_comfyui.wait_idle()
    orphan(generation, fake_comfyui, prompt_id, client_id)
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert len(fake_comfyui.prompts) == 1


def test_a_prompt_still_running_is_followed_to_the_end_not_resubmitted(make_generation, fake_comfyui):
    fake_comfyui.step_delay = 0.03
    generation = make_generation(steps=20)
    prompt_id, client_id = submit_directly(fake_comfyui, generation)
    orphan(generation, fake_comfyui, prompt_id, client_id)
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.prompt_id == prompt_id
    assert MediaOutput.objects.filter(generation=generation).count() == 1
    assert len(fake_comfyui.prompts) == 1


def test_a_prompt_comfyui_forgot_after_a_restart_is_submitted_again(make_generation, fake_comfyui):
    generation = make_generation()
    orphan(generation, fake_comfyui, "lost-in-a-restart", "old-client")
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.prompt_id != "lost-in-a-restart"
    assert len(fake_comfyui.prompts) == 1


def test_a_prompt_that_failed_while_nobody_watched_fails_with_comfyuis_reason(make_generation, fake_comfyui):
    fake_comfyui.fail_next_with_execution_error(node_type="KSampler", message="CUDA out of memory")
    generation = make_generation()
    prompt_id, client_id = submit_directly(fake_comfyui, generation)
    fake_comfyui.wait_idle()
    orphan(generation, fake_comfyui, prompt_id, client_id)
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert "KSampler" in generation.error and "CUDA out of memory" in generation.error
    assert len(fake_comfyui.prompts) == 1


def test_reproducing_with_the_same_seed_stores_new_files(
    make_generation, fake_comfyui, alice, django_capture_on_commit_callbacks
):
    first = run(make_generation())
    with django_capture_on_commit_callbacks(execute=False):
        again = generate.reproduce(first, user=alice)
    again = run(again)
    assert again.status == Generation.Status.COMPLETE, again.error
    assert again.parameters["seed"] == first.parameters["seed"]
    [old] = MediaOutput.objects.filter(generation=first)
    [new] = MediaOutput.objects.filter(generation=again)
    assert new.file.name != old.file.name
    with new.file.open("rb") as handle:
        assert Image.open(handle).size == (512, 512)


def test_progress_is_throttled_and_carries_an_eta(make_generation, fake_comfyui, listener):
    fake_comfyui.step_delay = 0.03
    generation = run(make_generation(steps=30))
    bar = f'id="generation-{generation.pk}-progress"'
    events = listener.drain(until=lambda events: any("Step 30/30" in e.get("html", "") for e in events))
    progress = [e["html"] for e in events if bar in e.get("html", "")]
    assert 2 <= len(progress) <= 12  # 30 steps in ~1 s: about 5 pushes a second, not one per step
    assert any("s left" in html for html in progress)
    assert "Step 30/30" in progress[-1]


def test_live_previews_reach_the_card(make_generation, fake_comfyui, listener):
    fake_comfyui.step_delay = 0.05
    generation = run(make_generation(steps=12))
    card = f'id="generation-{generation.pk}"'
    events = listener.drain(
        until=lambda events: any(card in e.get("html", "") and 'data-status="complete"' in e["html"] for e in events)
    )
    previews = [
        e["html"] for e in events if e.get("html", "").startswith(f'<img id="generation-{generation.pk}-preview"')
    ]
    assert previews and all('src="data:image/png;base64,' in html for html in previews)
    assert len(previews) < 12  # throttled


def test_an_unexpected_error_fails_the_generation_instead_of_leaving_it_running(
    make_generation, fake_comfyui, monkeypatch
):
    from generations.services import media
    from generations.signals import generation_finished

    def broken_storage(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(media, "save_output", broken_storage)
    finished = []

    def record(sender, generation, **kwargs):
        finished.append(generation.pk)

    generation_finished.connect(record)
    try:
        generation = run(make_generation())
    finally:
        generation_finished.disconnect(record)
    assert generation.status == Generation.Status.FAILED
    assert "unexpected error" in generation.error and "disk on fire" in generation.error
    assert finished.count(generation.pk) == 1


def test_a_worker_warms_up_before_forking_without_touching_the_database_or_a_server(settings):
    # Runs in the worker's parent process: it must not open connections its forked children would share.
    from django.template import engines

    from generations.services.worker import warm_up_before_forking as _warm_up_before_forking

    settings.COMFYUI_URLS = ["http://127.0.0.1:9"]  # nothing listens there
    _warm_up_before_forking()  # no django_db mark: a query here would fail the test
    cached = engines["django"].engine.template_loaders[0].get_template_cache
    assert "generations/_generation_card.html" in cached


@pytest.mark.parametrize(
    "claimed, body",
    [
        ("image/png", b"<html><script>alert(document.cookie)</script></html>"),
        ("image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("text/html", b"<script>alert(1)</script>"),
    ],
)
def test_a_file_that_is_not_an_image_or_video_is_refused_whatever_type_comfyui_claims(
    make_generation, fake_comfyui, claimed, body
):
    fake_comfyui.view_override = (claimed, body)
    generation = run(make_generation())
    assert generation.status == Generation.Status.FAILED
    assert "stores only images and videos" in generation.error and claimed in generation.error
    assert not MediaOutput.objects.filter(generation=generation).exists()


def test_the_stored_type_is_the_one_the_bytes_are_not_the_one_claimed(make_generation, fake_comfyui):
    from generations.services.media import sniff_type

    fake_comfyui.view_override = ("text/html", _png_bytes())
    generation = run(make_generation())
    assert generation.status == Generation.Status.COMPLETE
    assert MediaOutput.objects.get(generation=generation).content_type == sniff_type(_png_bytes()) == "image/png"


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_rework_uploads_its_image_under_the_owners_unguessable_folder_and_name(
    make_generation, fake_comfyui, alice, bob
):
    from io import BytesIO

    from generations.services import uploads

    from .test_gallery_view import stored_output

    source = make_generation()
    buffer = BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, "PNG")
    output = stored_output(source, data=buffer.getvalue())
    Generation.objects.filter(pk=source.pk).update(status="complete")
    rework = run(generate.rework(Generation.objects.get(pk=source.pk), user=alice))
    assert rework.status == Generation.Status.COMPLETE, rework.error
    [upload] = fake_comfyui.uploads
    folder, name = uploads.user_folder(alice.pk), uploads.file_name(output.pk)
    assert (upload["subfolder"], upload["name"], upload["type"]) == (folder, name, "input")
    # 128 keyed bits in each: neither can be guessed from ids
    assert re.fullmatch(r"studio-[0-9a-f]{32}", folder) and re.fullmatch(r"[0-9a-f]{32}\.png", name)
    assert folder != uploads.user_folder(bob.pk) and name != uploads.file_name(output.pk + 1)
    [load] = [n for n in fake_comfyui.prompts[-1]["prompt"].values() if n["class_type"] == "LoadImage"]
    assert load["inputs"]["image"] == f"{folder}/{name}"


# Every endpoint a run calls. A 5xx there is a passing fault (a restarting server, a proxy): the job is tried
# again and completes; a 4xx is an answer no retry changes: the job fails at once, with ComfyUI's words.
RUN_ENDPOINTS = ["/prompt", "/history", "/view"]


@pytest.mark.parametrize("path", RUN_ENDPOINTS)
def test_a_passing_5xx_on_any_endpoint_is_retried_once_and_the_job_completes(make_generation, fake_comfyui, path):
    generation = make_generation()
    fake_comfyui.fail_path(path, 503)
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.attempts == 2
    assert fake_comfyui.hits(path) >= 2


def test_the_catalog_failing_costs_the_job_nothing(make_generation, fake_comfyui):
    generation = make_generation()
    fake_comfyui.fail_path("/object_info", 503)
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE and generation.attempts == 1


@pytest.mark.parametrize("path", RUN_ENDPOINTS)
def test_a_4xx_on_any_endpoint_fails_the_job_after_one_attempt(make_generation, fake_comfyui, path):
    generation = make_generation()
    fake_comfyui.fail_path(path, 403, body="forbidden by the proxy")
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert generation.attempts == 1, generation.error
    assert "403" in generation.error or "forbidden" in generation.error


def test_a_5xx_that_lasts_fails_the_job_after_every_retry_with_the_count(make_generation, fake_comfyui, settings):
    generation = make_generation()
    fake_comfyui.fail_path("/prompt", 502, times=settings.GENERATION_MAX_RETRIES + 1)
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert generation.attempts == settings.GENERATION_MAX_RETRIES + 1
    assert f"gave up after {settings.GENERATION_MAX_RETRIES + 1} attempts" in generation.error


def test_in_process_retries_pause_longer_each_time(make_generation, fake_comfyui, settings, monkeypatch):
    paused: list[float] = []
    monkeypatch.setattr(tasks, "EAGER_BACKOFF_FACTOR", 0.25)
    monkeypatch.setattr(tasks, "time", types.SimpleNamespace(sleep=paused.append))
    fake_comfyui.fail_path("/prompt", 502, times=settings.GENERATION_MAX_RETRIES + 1)
    assert run(make_generation()).status == Generation.Status.FAILED
    assert paused == [0.25 * 2**attempt for attempt in range(1, settings.GENERATION_MAX_RETRIES + 1)]


@pytest.mark.parametrize(("status", "attempts"), [(503, 2), (400, 1)])
def test_a_rework_upload_that_fails_is_retried_only_when_it_can_pass(
    make_generation, fake_comfyui, alice, status, attempts
):
    from io import BytesIO

    from .test_gallery_view import stored_output

    source = make_generation()
    buffer = BytesIO()
    Image.new("RGB", (64, 64), "teal").save(buffer, "PNG")
    stored_output(source, data=buffer.getvalue())
    Generation.objects.filter(pk=source.pk).update(status="complete")
    fake_comfyui.fail_path("/upload/image", status)
    rework = run(generate.rework(Generation.objects.get(pk=source.pk), user=alice))
    assert rework.attempts == attempts
    assert rework.status == (Generation.Status.COMPLETE if status >= 500 else Generation.Status.FAILED), rework.error


def run_recorded_workflow(make_generation, name: str, *, kind: str = "image") -> Generation:
    """A custom workflow from the recorded weight-free set (real ComfyUI 0.3.64 graphs) run as a generation."""
    generation = make_generation(media_kind=kind)
    graph = json.loads((RECORDED_WORKFLOWS / f"{name}.json").read_text())
    Generation.objects.filter(pk=generation.pk).update(workflow=graph, template="custom")
    return run(generation)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("04_video_mp4", [("video", "video/mp4")]),
        ("05_video_webm", [("video", "video/webm")]),
        ("03_animated_webp_apng", [("video", "image/webp"), ("video", "image/png")]),
    ],
)
def test_a_workflow_that_makes_a_video_or_an_animation_makes_a_video_generation(
    make_generation, fake_comfyui, name, stored
):
    generation = run_recorded_workflow(make_generation, name)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert generation.kind == "video"
    outputs = list(MediaOutput.objects.filter(generation=generation))
    assert [(output.kind, output.content_type) for output in outputs] == stored
    html = render_card(generation)
    assert reverse("generations:rework", args=[generation.pk]) not in html  # img2img needs a still picture
    assert reverse("specialists:refine", args=[generation.pk]) in html
    for output in outputs:
        element = "<video" if output.content_type.startswith("video/") else "<img"
        assert f'{element} src="{reverse("generations:media", args=[output.pk])}"' in html


def test_a_workflow_that_only_previews_keeps_its_previews(make_generation, fake_comfyui):
    generation = run_recorded_workflow(make_generation, "06_preview_temp")
    assert generation.status == Generation.Status.COMPLETE, generation.error
    outputs = list(MediaOutput.objects.filter(generation=generation))
    assert [(output.kind, output.content_type, output.width) for output in outputs] == [("image", "image/png", 32)] * 2
    assert reverse("generations:rework", args=[generation.pk]) in render_card(generation)


def test_a_workflow_that_saves_and_previews_keeps_only_what_it_saved(make_generation, fake_comfyui):
    graph = json.loads((RECORDED_WORKFLOWS / "01_empty_save_png.json").read_text())
    image_node = next(node for node, spec in graph.items() if spec["class_type"] == "EmptyImage")
    graph["90"] = {"class_type": "PreviewImage", "inputs": {"images": [image_node, 0]}}
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(workflow=graph, template="custom")
    generation = run(generation)
    assert generation.status == Generation.Status.COMPLETE, generation.error
    assert [output.original_filename for output in MediaOutput.objects.filter(generation=generation)] == [
        "acc_empty_00001_.png"
    ]


def test_a_websocket_image_output_is_stored_from_its_frames(make_generation, fake_comfyui):
    generation = run_recorded_workflow(make_generation, "10_websocket_image_output")
    assert generation.status == Generation.Status.COMPLETE, generation.error
    outputs = list(MediaOutput.objects.filter(generation=generation))
    # EmptyImage 48x32, batch of 2: two full-size PNG frames from node 2
    assert [(o.node_id, o.content_type, o.width, o.height) for o in outputs] == [("2", "image/png", 48, 32)] * 2
    assert len({o.source_key for o in outputs}) == 2


def test_a_workflow_with_no_output_node_is_refused_saying_what_to_add(make_generation, fake_comfyui):
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}
    generation = make_generation()
    Generation.objects.filter(pk=generation.pk).update(workflow=graph, template="custom")
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert "the workflow has no output node (SaveImage, SaveVideo" in generation.error
    assert fake_comfyui.prompts == []  # ComfyUI refused it (prompt_no_outputs): nothing ran


def test_a_prompt_whose_images_went_only_to_a_socket_nobody_watched_fails_saying_why(make_generation, fake_comfyui):
    generation = make_generation()
    graph = json.loads((RECORDED_WORKFLOWS / "10_websocket_image_output.json").read_text())
    Generation.objects.filter(pk=generation.pk).update(workflow=graph, template="custom")
    generation.refresh_from_db()
    prompt_id, client_id = submit_directly(fake_comfyui, generation)
    fake_comfyui.wait_idle()
    orphan(generation, fake_comfyui, prompt_id, client_id)
    generation = run(generation)
    assert generation.status == Generation.Status.FAILED
    assert generation.error == runner.NO_OUTPUT
    assert len(fake_comfyui.prompts) == 1
