import html

import pytest
from django.urls import reverse

from generations.models import Generation
from specialists.models import Conversation, Phase, Role
from tests.fixtures.conversations import card_of
from tests.fixtures.render_farm import BRIEF


@pytest.fixture
def brief_message(alice_session):
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    return conversation.append_message(Role.TECHNICAL, "Here is the brief.", kind="brief", brief=BRIEF)


def form(**overrides):
    return {
        **{k: str(v) for k, v in BRIEF.items()},
        "checkpoint": "sd_xl_base_1.0.safetensors",
        "media_kind": "image",
        "template": "auto",
        **overrides,
    }


def url(message):
    return reverse("specialists:generate", args=[message.conversation.session_id, message.pk])


def test_it_starts_a_generation_from_the_edited_brief(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(
            url(brief_message), form(positive_prompt="a grey wolf instead"), HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.parameters["positive_prompt"] == "a grey wolf instead"
    assert generation.status == Generation.Status.QUEUED
    assert generation.workflow["2"]["inputs"]["text"] == "a grey wolf instead"
    conversation = brief_message.conversation
    conversation.refresh_from_db()
    assert conversation.phase == Phase.GENERATING
    card = card_of(generation)
    # The form's 512×512 is too small for the SDXL checkpoint it names: drawn at SDXL's size, and said so.
    said = "SDXL (and Pony, Illustrious) draws at 640–2048 px a side, so 512×512 became 1024×1024 (square)."
    assert (card.kind, card.generation_id, card.metadata) == ("generation", generation.pk, {"warnings": [said]})
    assert (generation.parameters["width"], generation.workflow["4"]["inputs"]["width"]) == (1024, 1024)


def test_it_rejects_invalid_fields_with_a_clear_error(alice_client, brief_message, fake_comfyui):
    response = alice_client.post(url(brief_message), form(steps="900", width="abc"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Steps" in text and "Width" in text
    assert not Generation.objects.exists()


def test_it_rejects_another_users_session(client, bob, brief_message, fake_comfyui):
    client.force_login(bob)
    assert client.post(url(brief_message), form()).status_code == 404
    assert not Generation.objects.exists()


def test_it_rejects_a_message_that_is_not_a_brief(alice_client, brief_message, fake_comfyui):
    other = brief_message.conversation.append_message(Role.USER, "hi")
    assert alice_client.post(url(other), form()).status_code == 404


def test_it_requires_post(alice_client, brief_message):
    assert alice_client.get(url(brief_message)).status_code == 405


def test_a_video_without_a_video_model_says_what_to_install(alice_client, brief_message, fake_comfyui):
    response = alice_client.post(url(brief_message), form(media_kind="video"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "svd_xt.safetensors" in response.content.decode()
    assert not Generation.objects.exists()


def test_a_video_on_a_comfyui_without_the_video_nodes_is_refused_before_anything_is_stored(
    alice_client, brief_message, fake_comfyui
):
    from generations.services import catalog

    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    fake_comfyui.remove_nodes("CreateVideo", "SaveVideo")
    catalog.clear_cache(fake_comfyui.url)
    response = alice_client.post(url(brief_message), form(media_kind="video"), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert f"ComfyUI at {fake_comfyui.url} does not have the nodes CreateVideo, SaveVideo" in text
    assert "update ComfyUI" in text
    assert not Generation.objects.exists() and fake_comfyui.prompts == []


def test_a_video_uses_the_video_model_only_to_animate(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks
):
    from generations.services import catalog

    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt_1_1.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(
            url(brief_message), form(media_kind="video", checkpoint="svd_xt_1_1.safetensors"), HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    generation = Generation.objects.get()
    loaders = {
        n["class_type"]: n["inputs"]["ckpt_name"] for n in generation.workflow.values() if "ckpt_name" in n["inputs"]
    }
    assert loaders == {
        "CheckpointLoaderSimple": "sd_xl_base_1.0.safetensors",
        "ImageOnlyCheckpointLoader": "svd_xt_1_1.safetensors",
    }
    warnings = card_of(generation).metadata["warnings"]
    assert any("is a video model" in w for w in warnings)


def test_it_is_refused_over_the_sessions_action_limit_and_starts_nothing(
    alice_client, brief_message, fake_comfyui, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    actions_used_up(brief_message.conversation.session)
    response = alice_client.post(url(brief_message), form(), HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and LIMIT_SENTENCE in response.content.decode()
    assert not Generation.objects.exists()
    assert Conversation.objects.current(brief_message.conversation.session).phase == Phase.REVIEW


def post_card(alice_client, message, data: dict, django_capture_on_commit_callbacks):
    from django.http import QueryDict

    body = QueryDict(mutable=True)
    for key, value in data.items():
        body.setlist(key, value if isinstance(value, list) else [str(value)])
    with django_capture_on_commit_callbacks(execute=False):
        return alice_client.post(
            url(message), body.urlencode(), "application/x-www-form-urlencoded", HTTP_HX_REQUEST="true"
        )


def test_it_draws_the_chosen_aspect_at_the_familys_size_with_the_chosen_style_and_loras(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks
):
    from generations.services import catalog

    fake_comfyui.set_models("loras", ["ink.safetensors", "detail.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    data = form(aspect="portrait", style="anime", lora=["ink.safetensors", "", "detail.safetensors"])
    data["lora_strength"] = ["0.7", "1", "-0.5"]
    response = post_card(alice_client, brief_message, data, django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.content.decode()
    generation = Generation.objects.get()
    assert (generation.parameters["width"], generation.parameters["height"]) == (832, 1216)
    assert generation.parameters["style"] == "anime"
    assert generation.parameters["loras"] == [
        {"name": "ink.safetensors", "strength": 0.7},
        {"name": "detail.safetensors", "strength": -0.5},
    ]
    chain = [node for node in generation.workflow.values() if node["class_type"] == "LoraLoader"]
    assert [node["inputs"]["lora_name"] for node in chain] == ["ink.safetensors", "detail.safetensors"]


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"lora": ["gone.safetensors"], "lora_strength": ["0.8"]}, "the LoRA gone.safetensors is not installed"),
        ({"lora": ["ink.safetensors"], "lora_strength": ["2.05"]}, "LoRA ink.safetensors: the strength must be"),
        ({"lora": ["ink.safetensors"], "lora_strength": ["-2.05"]}, "LoRA ink.safetensors: the strength must be"),
        ({"lora": ["ink.safetensors"], "lora_strength": ["lots"]}, "the strength must be a number"),
        ({"lora": ["ink.safetensors"] * 4, "lora_strength": ["1"] * 4}, "A brief takes up to 3 LoRAs."),
        ({"aspect": "custom", "width": "2000", "height": "512"}, "draws at 640–2048 px a side, and 2000×512"),
        ({"aspect": "tall"}, "Aspect"),
        ({"style": "vaporwave"}, "Style"),
    ],
)
def test_it_refuses_a_lora_or_size_it_cannot_draw_saying_what_to_change_and_stores_nothing(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks, changes, said
):
    from generations.services import catalog

    fake_comfyui.set_models("loras", ["ink.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    response = post_card(alice_client, brief_message, form(**changes), django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert said in html.unescape(response.content.decode())
    assert not Generation.objects.exists()
    brief_message.refresh_from_db()
    assert brief_message.brief == BRIEF


def test_it_makes_as_many_pictures_as_asked_on_consecutive_seeds(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(url(brief_message), form(seed="41", count="3"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    seeds = [g.parameters["seed"] for g in Generation.objects.order_by("pk")]
    assert seeds == [41, 42, 43]
    assert all("count" not in g.parameters and "new_seed" not in g.parameters for g in Generation.objects.all())
    assert [card_of(g).generation_id for g in Generation.objects.order_by("pk")] == sorted(
        Generation.objects.values_list("pk", flat=True)
    )


def test_with_a_new_seed_each_time_the_cards_seed_is_not_used(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(url(brief_message), form(seed="41", count="2", new_seed="on"), HTTP_HX_REQUEST="true")
    seeds = [g.parameters["seed"] for g in Generation.objects.all()]
    assert len(seeds) == 2 and 41 not in seeds and len(set(seeds)) == 2


@pytest.mark.parametrize(("count", "made"), [("1", 1), ("4", 4), ("", 1)])
def test_the_count_is_taken_at_both_edges(
    alice_client, brief_message, fake_comfyui, django_capture_on_commit_callbacks, count, made
):
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_client.post(url(brief_message), form(count=count), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and Generation.objects.count() == made


@pytest.mark.parametrize("count", ["0", "5", "-1", "two"])
def test_a_count_outside_one_to_four_is_refused_and_nothing_starts(alice_client, brief_message, fake_comfyui, count):
    response = alice_client.post(url(brief_message), form(count=count), HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "How many" in response.content.decode()
    assert not Generation.objects.exists()


def test_a_batch_that_cannot_all_start_starts_none(alice_session, fake_comfyui, monkeypatch):
    from generations.services import generate
    from generations.services.brief import BriefError

    real = generate.start_generation
    calls = []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise BriefError("the server went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "start_generation", third_fails)
    brief = {**BRIEF, "checkpoint": "sd_xl_base_1.0.safetensors"}
    with pytest.raises(BriefError):
        generate.start_batch(alice_session, brief, user=alice_session.owner, count=3)
    assert not Generation.objects.exists()
    with pytest.raises(BriefError, match="1–4 pictures at a time, not 9"):
        generate.start_batch(alice_session, brief, user=alice_session.owner, count=9)
