"""Setting which family a model is drawn as, from the settings page."""

import pytest
from django.urls import reverse

from generations.models import Generation, ModelFamily
from generations.services import catalog
from generations.services.generate import start_generation

FINETUNE = "dreamy_v3.safetensors"  # an SDXL finetune whose name does not say so: taken for SD1.5


@pytest.fixture
def farm(fake_comfyui):
    fake_comfyui.set_checkpoints([FINETUNE, "sd_xl_base_1.0.safetensors"])
    fake_comfyui.set_models("diffusion_models", ["flux1-dev.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    return fake_comfyui


def url(session):
    return reverse("generations:model_family", args=[session.pk])


def test_it_draws_a_model_as_the_family_its_owner_sets(
    alice, alice_client, alice_session, farm, django_capture_on_commit_callbacks
):
    response = alice_client.post(url(alice_session), {"model": FINETUNE, "family": "sdxl"})
    assert response.status_code == 302 and response.url.endswith("/settings/#model-families")
    assert ModelFamily.objects.get(owner=alice).family == "sdxl"
    brief = {"positive_prompt": "a fox", "checkpoint": FINETUNE, "aspect": "portrait", "seed": 1}
    with django_capture_on_commit_callbacks(execute=False):
        generation = start_generation(alice_session, brief, user=alice)
    assert (generation.parameters["width"], generation.parameters["height"]) == (832, 1216)  # SDXL's, not SD1.5's
    page = alice_client.get(reverse("specialists:session_settings", args=[alice_session.pk])).content.decode()
    assert f"{FINETUNE} is drawn as SDXL (and Pony, Illustrious) (as you set)." in page


def test_it_goes_back_to_what_the_name_tells(alice, alice_client, alice_session, farm):
    ModelFamily.objects.create(owner=alice, model=FINETUNE, family="sdxl")
    alice_client.post(url(alice_session), {"model": FINETUNE, "family": ""})
    assert not ModelFamily.objects.exists()


def test_what_one_user_sets_does_not_change_another_users_models(
    alice, bob, alice_session, farm, django_capture_on_commit_callbacks
):
    from studio.core.models import Session

    ModelFamily.objects.create(owner=alice, model=FINETUNE, family="sdxl")
    bobs = Session.objects.create(owner=bob, title="Bob's")
    with django_capture_on_commit_callbacks(execute=False):
        generation = start_generation(bobs, {"positive_prompt": "a fox", "checkpoint": FINETUNE}, user=bob)
    assert (generation.parameters["width"], generation.parameters["height"]) == (512, 512)


@pytest.mark.parametrize(
    "sent, said",
    [
        ({"model": FINETUNE, "family": "flux_split"}, "a model in ComfyUI/models/checkpoints can be one of:"),
        ({"model": "flux1-dev.safetensors", "family": "sdxl"}, "a model in ComfyUI/models/diffusion_models"),
        ({"model": FINETUNE, "family": "nonsense"}, "can be one of: Stable Diffusion 1.5, SDXL"),
        ({"model": "not_there.safetensors", "family": "sdxl"}, "no ComfyUI server lists the model not_there"),
        ({"family": "sdxl"}, "no ComfyUI server lists the model"),
    ],
)
def test_it_refuses_a_family_the_model_cannot_be_and_changes_nothing(
    alice, alice_client, alice_session, farm, sent, said
):
    ModelFamily.objects.create(owner=alice, model=FINETUNE, family="sd15")
    response = alice_client.post(url(alice_session), sent, follow=True)
    assert said in response.content.decode()
    assert list(ModelFamily.objects.values_list("model", "family")) == [(FINETUNE, "sd15")]


def test_it_refuses_while_comfyui_cannot_be_asked(alice_client, alice_session, fake_comfyui):
    fake_comfyui.stop()
    catalog.clear_cache(fake_comfyui.url)
    response = alice_client.post(url(alice_session), {"model": FINETUNE, "family": "sdxl"}, follow=True)
    assert "try again when it answers" in response.content.decode()
    assert not ModelFamily.objects.exists()


def test_it_rejects_another_users_session(client, bob, alice_session, farm):
    client.force_login(bob)
    assert client.post(url(alice_session), {"model": FINETUNE, "family": "sdxl"}).status_code == 404
    assert not ModelFamily.objects.exists()


def test_it_requires_post(alice_client, alice_session):
    assert alice_client.get(url(alice_session)).status_code == 405


def test_the_settings_page_reports_each_family_per_server_and_each_model(alice_client, alice_session, farm):
    page = alice_client.get(reverse("specialists:session_settings", args=[alice_session.pk])).content.decode()
    section = page[page.index('id="model-families"') :]
    assert f"ComfyUI at {farm.url}" in section
    # Split Flux has its diffusion model but not its text encoders or VAE: which file, which folder, which loader.
    assert "half installed" in section
    assert "ae.safetensors in ComfyUI/models/vae (for VAELoader)" in section
    assert "t5xxl_fp8_e4m3fn.safetensors in ComfyUI/models/text_encoders (for DualCLIPLoader)" in section
    assert "not installed — needs ltx-video-2b-v0.9.5.safetensors in ComfyUI/models/checkpoints" in section
    assert section.count('name="model" value="') == 3
    assert "From the name: Stable Diffusion 1.5" in section  # the finetune, until its owner says otherwise
    assert not Generation.objects.exists()
