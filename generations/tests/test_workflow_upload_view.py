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
