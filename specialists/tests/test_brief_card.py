"""The brief card inside Pixel's message, as the chat renders it."""

from django.urls import reverse

from specialists.models import Conversation, Phase, Role
from specialists.services.chat_html import render_message


def test_the_brief_card_is_an_editable_form_of_installed_options(alice_session, fake_comfyui):
    from generations.services import catalog

    fake_comfyui.set_checkpoints(["sd_xl_base_1.0.safetensors", "svd_xt.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    brief = {
        "positive_prompt": '<img src=x onerror=alert(1)> "a fox"',
        "negative_prompt": "blurry",
        "checkpoint": "sd_xl_base_1.0.safetensors",
        "width": 768,
        "height": 512,
        "steps": 20,
        "cfg": 6.5,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "seed": 42,
        "media_kind": "image",
    }
    message = conversation.append_message(
        Role.TECHNICAL, "", kind="brief", brief=brief, metadata={"warnings": ["width 770 adjusted to 768"]}
    )
    html = render_message(message)
    assert reverse("specialists:generate", args=[alice_session.pk, message.pk]) in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert '<option value="sd_xl_base_1.0.safetensors" selected>' in html
    assert 'value="svd_xt.safetensors"' not in html  # a video model cannot draw the picture
    assert '<option value="dpmpp_2m" selected>' in html and '<option value="karras" selected>' in html
    assert 'name="seed" value="42"' in html and 'name="width" value="768"' in html
    assert "width 770 adjusted to 768" in html
