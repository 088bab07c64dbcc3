import json

from django.urls import reverse

from generations.models import CustomWorkflow
from generations.services import custom_workflow
from generations.workflows import txt2img
from tests.fixtures.render_farm import BRIEF


def saved_workflow(session) -> CustomWorkflow:
    graph = txt2img({**BRIEF, "checkpoint": "sd_xl_base_1.0.safetensors"})
    return custom_workflow.save(session, "Mine", json.dumps(graph).encode(), {"positive_prompt": "2.text"})


def delete(client, session):
    return client.post(reverse("generations:workflow_delete", args=[session.pk]), follow=True)


def test_it_removes_the_sessions_custom_workflow(alice_client, alice_session):
    saved_workflow(alice_session)
    response = delete(alice_client, alice_session)
    assert "Custom workflow removed." in response.content.decode()
    assert not CustomWorkflow.objects.exists()


def test_it_rejects_another_users_session_and_keeps_their_workflow(client, bob, alice_session):
    workflow = saved_workflow(alice_session)
    client.force_login(bob)
    assert delete(client, alice_session).status_code == 404
    assert CustomWorkflow.objects.get() == workflow


def test_it_needs_a_post(alice_client, alice_session):
    saved_workflow(alice_session)
    assert alice_client.get(reverse("generations:workflow_delete", args=[alice_session.pk])).status_code == 405
    assert CustomWorkflow.objects.exists()


def test_it_is_refused_over_the_sessions_action_limit_and_keeps_the_workflow(
    alice_client, alice_session, actions_used_up
):
    from tests.fixtures.users import LIMIT_SENTENCE

    saved_workflow(alice_session)
    actions_used_up(alice_session)
    assert LIMIT_SENTENCE in delete(alice_client, alice_session).content.decode()
    assert CustomWorkflow.objects.exists()
