import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generations.models import CustomWorkflow
from generations.services.custom_workflow import apply_custom_workflow
from generations.workflows import txt2img
from tests.fixtures.render_farm import BRIEF


def graph():
    return txt2img({**BRIEF, "checkpoint": "sd_xl_base_1.0.safetensors"})


def upload(client, session, content, **mapping):
    data = {"name": "Mine", "workflow": SimpleUploadedFile("wf.json", content, "application/json")}
    data.update({f"map_{k}": v for k, v in mapping.items()})
    return client.post(reverse("generations:workflow_upload", args=[session.pk]), data, follow=True)


def test_a_valid_workflow_is_saved_and_applied_structurally(alice_client, alice_session):
    response = upload(
        alice_client,
        alice_session,
        json.dumps(graph()).encode(),
        positive_prompt="2.text",
        seed="5.seed",
        steps="5.steps",
    )
    assert "Custom workflow saved" in response.content.decode()
    workflow = CustomWorkflow.objects.get(session=alice_session)
    assert workflow.mapping == {"positive_prompt": ["2", "text"], "seed": ["5", "seed"], "steps": ["5", "steps"]}
    applied, _ = apply_custom_workflow(alice_session, {**BRIEF, "positive_prompt": 'quote " and {braces}', "seed": 7})
    assert applied["2"]["inputs"]["text"] == 'quote " and {braces}'
    assert applied["5"]["inputs"]["seed"] == 7
    assert workflow.graph["2"]["inputs"]["text"] == BRIEF["positive_prompt"]  # stored graph untouched


@pytest.mark.parametrize(
    "content, mapping, message",
    [
        (b"{not json", {"positive_prompt": "2.text"}, "not valid JSON"),
        (b"[1, 2, 3]", {"positive_prompt": "2.text"}, "must be a JSON object of nodes"),
        (json.dumps({"nodes": [], "links": []}).encode(), {"positive_prompt": "2.text"}, "Save (API Format)"),
        (json.dumps({"1": {"inputs": {}}}).encode(), {"positive_prompt": "1.x"}, "has no class_type"),
        (json.dumps(graph()).encode(), {"positive_prompt": "99.text"}, "node 99 is not in the workflow"),
        (json.dumps(graph()).encode(), {"positive_prompt": "2.nope"}, "has no input &#x27;nope&#x27;"),
        (json.dumps(graph()).encode(), {"positive_prompt": "5.model"}, "is a link to another node"),
        (
            json.dumps({"1": {"class_type": "A", "inputs": {"x": ["9", 0]}}}).encode(),
            {"positive_prompt": "1.x"},
            "links to node 9",
        ),
        (
            json.dumps({"1": {"class_type": "EmptyImage", "inputs": {"w": 1}}}).encode(),
            {"positive_prompt": "1.w"},
            "no output node",
        ),
        (
            json.dumps({"1": {"class_type": "SaveImage", "inputs": {"w": 10**40}}}).encode(),
            {"positive_prompt": "1.w"},
            "absurdly large",
        ),
        (b'{"1": {"class_type": "SaveImage", "inputs": {"w": NaN}}}', {"positive_prompt": "1.w"}, "not valid JSON"),
        (
            json.dumps({"1": {"class_type": "SaveImage", "inputs": {"a": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}}}).encode(),
            {"positive_prompt": "1.a"},
            "nested too deeply",
        ),
    ],
)
def test_bad_workflows_get_a_clear_error_and_nothing_is_stored(alice_client, alice_session, content, mapping, message):
    response = upload(alice_client, alice_session, content, **mapping)
    assert message in response.content.decode()
    assert not CustomWorkflow.objects.exists()


def test_an_oversized_file_is_refused(alice_client, alice_session, settings):
    settings.WORKFLOW_UPLOAD_MAX_BYTES = 2048
    response = upload(alice_client, alice_session, b" " * 4096 + json.dumps(graph()).encode(), positive_prompt="2.text")
    assert "the limit is 2,048" in response.content.decode()
    assert not CustomWorkflow.objects.exists()


def test_it_rejects_another_users_session(client, bob, alice_session):
    client.force_login(bob)
    response = upload(client, alice_session, json.dumps(graph()).encode(), positive_prompt="2.text")
    assert response.status_code == 404
    assert not CustomWorkflow.objects.exists()


def test_it_is_refused_over_the_sessions_action_limit_and_stores_nothing(alice_client, alice_session, actions_used_up):
    from tests.fixtures.users import LIMIT_SENTENCE

    actions_used_up(alice_session)
    response = upload(alice_client, alice_session, json.dumps(graph()).encode(), positive_prompt="2.text")
    assert LIMIT_SENTENCE in response.content.decode()
    assert response.redirect_chain == [(reverse("specialists:session_settings", args=[alice_session.pk]), 302)]
    assert not CustomWorkflow.objects.exists()


def test_a_workflow_with_no_prompt_input_is_saved_and_its_generations_say_the_prompt_was_not_used(
    alice_client, alice_session, alice
):
    from generations.services.cards import render_card
    from generations.services.generate import start_generation

    response = upload(alice_client, alice_session, json.dumps(graph()).encode(), seed="5.seed")
    page = response.content.decode()
    assert "Custom workflow saved" in page and "It has no prompt input: the brief's prompt is not used." in page
    assert CustomWorkflow.objects.get(session=alice_session).mapping == {"seed": ["5", "seed"]}

    generation = start_generation(alice_session, dict(BRIEF), user=alice, template="custom", announce=False)
    assert not generation.uses_prompt
    assert "This workflow takes no prompt: the brief's prompt was not used." in render_card(generation)
    mapped = start_generation(alice_session, dict(BRIEF), user=alice, template="txt2img", announce=False)
    assert mapped.uses_prompt and "takes no prompt" not in render_card(mapped)


def test_a_workflow_with_a_node_the_server_lacks_is_refused_before_it_is_sent(
    alice_client, alice_session, alice, fake_comfyui
):
    from generations.models import Generation
    from generations.services.brief import BriefError
    from generations.services.generate import start_generation

    with_custom_node = {**graph(), "90": {"class_type": "UltimateSDUpscale", "inputs": {"upscale_by": 2}}}
    upload(alice_client, alice_session, json.dumps(with_custom_node).encode(), positive_prompt="2.text")
    with pytest.raises(BriefError) as refused:
        start_generation(alice_session, dict(BRIEF), user=alice, template="custom", announce=False)
    assert f"ComfyUI at {fake_comfyui.url} does not have the node UltimateSDUpscale that this workflow uses" in str(
        refused.value
    )
    assert not Generation.objects.exists() and fake_comfyui.prompts == []


def htmx_upload(client, session, content, **mapping):
    data = {"name": "Mine", "workflow": SimpleUploadedFile("wf.json", content, "application/json")}
    data.update({f"map_{k}": v for k, v in mapping.items()})
    return client.post(reverse("generations:workflow_upload", args=[session.pk]), data, HTTP_HX_REQUEST="true")


def test_from_the_page_a_refusal_comes_back_beside_the_form_and_nothing_is_stored(alice_client, alice_session):
    response = htmx_upload(alice_client, alice_session, json.dumps(graph()).encode(), positive_prompt="99.text")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "node 99 is not in the workflow" in html
    assert "<form" not in html, "the form on the page stays as it is, with the file and fields entered"
    assert not CustomWorkflow.objects.filter(session=alice_session).exists()


def test_from_the_page_a_saved_workflow_reloads_the_settings(alice_client, alice_session):
    response = htmx_upload(alice_client, alice_session, json.dumps(graph()).encode(), positive_prompt="2.text")
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == reverse("specialists:session_settings", args=[alice_session.pk])
    assert CustomWorkflow.objects.filter(session=alice_session).exists()


def test_the_brief_card_says_which_values_the_custom_workflow_takes_and_ignores(alice_session):
    from generations.services.custom_workflow import card_note

    assert card_note(alice_session) == ""
    CustomWorkflow.objects.create(
        session=alice_session,
        name="Ink",
        graph=graph(),
        mapping={"positive_prompt": ["2", "text"], "seed": ["5", "seed"]},
    )
    assert card_note(alice_session) == (
        "“My custom workflow” (Ink) takes only the prompt and seed from this card; it ignores the negative prompt, "
        "width, height and steps, as well as the model, style, LoRAs, CFG, sampler and scheduler."
    )
