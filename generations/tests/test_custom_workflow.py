"""Custom workflows: every kind of bad file gets a clear message; a good one is filled in structurally."""

import json

import pytest

from generations.models import CustomWorkflow
from generations.services import custom_workflow
from generations.services.brief import BriefError
from generations.services.custom_workflow import WorkflowInvalid, apply_custom_workflow, parse_graph, validate_graph
from generations.workflows import txt2img
from tests.fixtures.render_farm import BRIEF

from .test_workflows import run_graph

TARGETS = {"positive_prompt": "2.text", "negative_prompt": "3.text", "seed": "5.seed", "width": "4.width"}


def graph() -> dict:
    return txt2img({**BRIEF, "checkpoint": "sd_xl_base_1.0.safetensors"})


def raw(value) -> bytes:
    return json.dumps(value).encode()


def node(class_type="SaveImage", **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"1": {"class_type": "SaveImage", "inputs": {"w": Infinity}}}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object of nodes"),
        (b"{}", "must be a JSON object of nodes"),
        (raw({"nodes": [], "links": []}), "Save (API Format)"),
        (raw({"1": {"inputs": {}}}), "has no class_type"),
        (raw({"1": "SaveImage"}), "has no class_type"),
        (raw({"1": {"class_type": "SaveImage", "inputs": [1]}}), "inputs must be an object"),
        (raw({"1": node(images=["9", 0])}), "links to node 9, which is not in the workflow"),
        (raw({"1": node(images=["1", -1])}), "outputs are numbered from 0"),
        (raw({"1": node("EmptyImage", width=1)}), "has no output node"),
        (raw({"1": node(w=10**40)}), "absurdly large"),
        (raw({"1": node(w=[1, [2, 1e300]])}), "absurdly large"),
        (raw({"x" * 65: node()}), "is not a short text id"),
        (raw({str(i): node() for i in range(501)}), "the limit is 500"),
        (raw({"1": node(a=[[[[[[[[[[[[[[1]]]]]]]]]]]]]])}), "nested too deeply"),
        # json.loads would hit Python's recursion limit on this one.
        (
            b'{"1": {"class_type": "SaveImage", "inputs": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}}",
            "nested too deeply",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(content, message, settings):
    settings.WORKFLOW_UPLOAD_MAX_BYTES = 1_000_000
    with pytest.raises(WorkflowInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_graph(content)


def test_a_too_big_file_is_refused_before_parsing(settings):
    settings.WORKFLOW_UPLOAD_MAX_BYTES = 1024
    with pytest.raises(WorkflowInvalid, match="the limit is 1,024"):
        parse_graph(b"{" * 5000)


def test_brackets_inside_strings_do_not_count_as_nesting():
    graph = {"1": node(text='[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{ \\" ]]]]'), "2": node(images=["1", 0])}
    assert parse_graph(raw(graph)) == graph


def test_non_text_node_ids_are_refused():
    with pytest.raises(WorkflowInvalid, match="is not a short text id"):
        validate_graph({1: node()})


def test_a_saved_prompt_request_body_is_accepted():
    assert parse_graph(raw({"prompt": graph(), "client_id": "x"})) == graph()


@pytest.mark.parametrize(
    "targets, message",
    [
        ({"positive_prompt": "2"}, "write NODE_ID.INPUT_NAME"),
        ({"positive_prompt": "99.text"}, "node 99 is not in the workflow"),
        ({"positive_prompt": "2.nope"}, "has no input 'nope' (it has: clip, text)"),
        ({"positive_prompt": "5.model"}, "is a link to another node"),
        ({"positive_prompt": "5.seed"}, "not text; pick a text input"),
        ({"positive_prompt": "2.text", "seed": "2.text"}, "not a number; pick a number input"),
        ({"positive_prompt": "2.text", "steps": "5.sampler_name"}, "not a number"),
        ({"positive_prompt": "2.text", "negative_prompt": "2.text"}, "both point at 2.text"),
    ],
)
def test_a_mapping_that_does_not_fit_the_graph_is_refused(targets, message):
    with pytest.raises(WorkflowInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        custom_workflow.build_mapping(graph(), targets)


def test_applying_a_brief_sets_values_in_a_copy(alice_session):
    stored = custom_workflow.save(alice_session, "Mine", raw(graph()), TARGETS)
    brief = {**BRIEF, "positive_prompt": 'a "quoted" {prompt}', "negative_prompt": "noise", "seed": 99, "width": 640}
    applied, takes_prompt = apply_custom_workflow(alice_session, brief)
    assert takes_prompt
    assert applied["2"]["inputs"]["text"] == 'a "quoted" {prompt}'
    assert applied["3"]["inputs"]["text"] == "noise"
    assert (applied["5"]["inputs"]["seed"], applied["4"]["inputs"]["width"]) == (99, 640)
    assert applied["4"]["inputs"]["height"] == graph()["4"]["inputs"]["height"]  # not mapped: untouched
    stored.refresh_from_db()
    assert stored.graph == graph()


def test_an_uploaded_workflow_runs_on_comfyui(alice_session, fake_comfyui):
    custom_workflow.save(alice_session, "Mine", raw(graph()), TARGETS)
    applied, _ = apply_custom_workflow(alice_session, {**BRIEF, "seed": 5, "width": 256})
    assert [f.kind for f in run_graph(fake_comfyui.url, applied)] == ["image"]


def test_uploading_again_replaces_the_sessions_workflow(alice_session):
    custom_workflow.save(alice_session, "First", raw(graph()), TARGETS)
    custom_workflow.save(alice_session, "Second", raw(graph()), {"positive_prompt": "3.text"})
    stored = CustomWorkflow.objects.get(session=alice_session)
    assert stored.name == "Second" and stored.mapping == {"positive_prompt": ["3", "text"]}


def test_a_session_without_a_custom_workflow_says_where_to_add_one(alice_session):
    with pytest.raises(BriefError, match="upload one in the session settings"):
        apply_custom_workflow(alice_session, BRIEF)


def test_a_workflow_that_loads_a_shared_input_file_is_refused_at_upload(alice_session):
    loading = {**graph(), "20": node("LoadImage", image="studio_1.png")}
    with pytest.raises(WorkflowInvalid, match="Node 20 \\(LoadImage\\) loads 'studio_1.png'"):
        custom_workflow.save(alice_session, "Mine", raw(loading), TARGETS)
    assert not CustomWorkflow.objects.exists()


def test_a_stored_workflow_that_loads_a_shared_input_file_is_refused_at_use(alice_session):
    loading = {**graph(), "20": node("LoadImage", image="studio_1.png")}
    CustomWorkflow.objects.create(
        session=alice_session, name="Old", graph=loading, mapping={"positive_prompt": ["2", "text"]}
    )
    with pytest.raises(BriefError, match="cannot run: Node 20 \\(LoadImage\\)"):
        apply_custom_workflow(alice_session, BRIEF)


def test_a_workflow_without_a_prompt_input_is_kept_and_said_to_take_no_prompt(alice_session):
    custom_workflow.save(alice_session, "Upscale only", raw(graph()), {"seed": "5.seed", "positive_prompt": " "})
    applied, takes_prompt = apply_custom_workflow(alice_session, {**BRIEF, "positive_prompt": "ignored", "seed": 3})
    assert not takes_prompt
    assert applied["2"]["inputs"]["text"] == graph()["2"]["inputs"]["text"] and applied["5"]["inputs"]["seed"] == 3
