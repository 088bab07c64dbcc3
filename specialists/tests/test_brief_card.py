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
    assert '<option value="sd_xl_base_1.0.safetensors" title="sd_xl_base_1.0.safetensors" selected>' in html
    assert 'value="svd_xt.safetensors"' not in html  # a video model cannot draw the picture
    assert '<option value="dpmpp_2m" selected>' in html and '<option value="karras" selected>' in html
    assert 'name="seed" value="42"' in html and 'name="width" value="768"' in html
    assert "width 770 adjusted to 768" in html


def test_the_card_offers_presets_for_the_models_family_first_and_folds_the_numbers(alice_session, fake_comfyui):
    import re

    from generations.services import catalog
    from generations.workflows.styles import STYLES

    long_name = "illustriousXL_v2.0_a_rather_long_finetune_name_that_a_select_cuts.safetensors"
    fake_comfyui.set_checkpoints(["v1-5-pruned-emaonly.safetensors", long_name])
    fake_comfyui.set_models("loras", ["ink_style.safetensors", "detail.safetensors"])
    catalog.clear_cache(fake_comfyui.url)
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    brief = {
        "positive_prompt": "a fox",
        "negative_prompt": "",
        "checkpoint": long_name,
        "aspect": "portrait",
        "width": 832,
        "height": 1216,
        "steps": 28,
        "cfg": 6.5,
        "sampler": "euler",
        "scheduler": "normal",
        "seed": 42,
        "media_kind": "image",
        "style": "watercolor",
        "loras": [{"name": "detail.safetensors", "strength": 0.4}],
    }
    html = render_message(conversation.append_message(Role.TECHNICAL, "", kind="brief", brief=brief))

    # The SDXL family's trained sizes, by aspect, the brief's own selected.
    assert re.findall(r'<option value="(\w+)" data-width="(\d+)" data-height="(\d+)"', html) == [
        ("square", "1024", "1024"),
        ("portrait", "832", "1216"),
        ("landscape", "1216", "832"),
        ("wide", "1344", "768"),
    ]
    assert 'data-height="1216" selected>Portrait · 832×1216</option>' in html
    assert "SDXL (and Pony, Illustrious)" in html
    assert f'title="{long_name}"' in html  # the whole name on hover
    assert '<option value="watercolor" selected>Watercolour</option>' in html
    assert html.count('<option value="') >= len(STYLES)
    # The brief's LoRA with its strength, then a free row.
    assert html.count('name="lora"') == 2 and 'value="0.4"' in html
    assert '<option value="detail.safetensors" title="detail.safetensors" selected>' in html
    # Presets come before the numbers, which are folded with a one-line summary.
    assert html.index('name="aspect"') < html.index('<details class="brief-numbers">') < html.index('name="width"')
    assert "832×1216 · 28 steps · CFG 6.5 · euler / normal · seed 42" in html


def test_a_brief_sized_by_hand_shows_custom_and_no_lora_rows_without_installed_loras(alice_session, fake_comfyui):
    from generations.services import catalog

    catalog.clear_cache(fake_comfyui.url)
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    brief = {"positive_prompt": "a fox", "checkpoint": "sd_xl_base_1.0.safetensors", "aspect": "custom"}
    brief.update(width=1000, height=800, steps=20, cfg=7, sampler="euler", scheduler="normal", seed=1)
    html = render_message(conversation.append_message(Role.TECHNICAL, "", kind="brief", brief=brief))
    assert '<option value="custom" selected>Custom size (1000×800)</option>' in html
    assert 'name="lora"' not in html  # the server lists no LoRA


def test_an_earlier_brief_folds_away_and_can_be_used_again(alice_session, fake_comfyui):
    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    brief = {"positive_prompt": "a fox in the snow at dawn", "checkpoint": "sd_xl_base_1.0.safetensors"}
    brief.update(aspect="square", width=1024, height=1024, steps=20, cfg=7, sampler="euler", scheduler="normal", seed=1)
    first = conversation.append_message(Role.TECHNICAL, "Here is the brief.", kind="brief", brief=brief)
    assert "old-brief" not in render_message(first) and ">Generate</button>" in render_message(first)
    second = conversation.append_message(Role.TECHNICAL, "A new one.", kind="brief", brief={**brief, "seed": 2})
    folded = render_message(first)
    assert '<details class="old-brief">' in folded and "earlier brief" in folded
    assert "a fox in the snow at dawn" in folded.split("</summary>")[0]
    assert ">Use this one again</button>" in folded
    assert reverse("specialists:generate", args=[alice_session.pk, first.pk]) in folded
    live = render_message(second)
    assert "<details class=\"old-brief\">" not in live and ">Generate</button>" in live


def test_with_a_custom_workflow_the_card_offers_it_and_says_what_it_ignores(alice_session, fake_comfyui):
    from generations.models import CustomWorkflow

    conversation = Conversation.objects.create(session=alice_session, phase=Phase.REVIEW)
    brief = {"positive_prompt": "a fox", "checkpoint": "sd_xl_base_1.0.safetensors"}
    message = conversation.append_message(Role.TECHNICAL, "", kind="brief", brief=brief)
    html = render_message(message)
    assert 'value="custom">My custom workflow' not in html and "workflow-note" not in html
    CustomWorkflow.objects.create(session=alice_session, name="Ink <b>", graph={}, mapping={"seed": ["5", "seed"]})
    html = render_message(message)
    assert '<option value="custom">My custom workflow</option>' in html
    assert "(Ink &lt;b&gt;) takes only the seed from this card; it ignores the prompt, negative prompt" in html
