"""ComfyUIClient and the /ws event parser, against the fake ComfyUI on a real socket and the recordings."""

import io
import json
import socket
import struct
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from generations.clients.comfyui import (
    ComfyUIClient,
    ComfyUIUnreachable,
    WorkflowRejected,
    combo_options,
    describe_rejection,
    model_input,
)
from generations.clients.comfyui_events import (
    Executed,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ExecutionSuccess,
    Preview,
    Progress,
    Status,
    output_files,
    parse_binary,
    parse_json,
)
from studio.errors import EngineError, PermanentError, TransientError
from tests.fakes.comfyui import ASSETS

# Recordings of a real ComfyUI 0.3.64, kept in the repository (tests/recordings/README.md says what they are).
PROTOCOLS = Path(__file__).resolve().parents[2] / "tests" / "recordings" / "comfyui"
ERRORS = PROTOCOLS / "errors"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ERROR_CASES = sorted(path.name.split(".")[0] for path in ERRORS.glob("*.request.json"))
# Missing recordings must fail loudly, never turn into zero cases.
assert len(ERROR_CASES) == 11, f"expected the 11 recorded JSON /prompt rejections in {ERRORS}, found {len(ERROR_CASES)}"
# What the artist reads for each recorded rejection, whole: a sentence is the product, so a test compares all of it.
RECORDED_EXPECTATIONS = {
    "e1_unknown_class_type": "ComfyUI has no node type DefinitelyNotANode: install the custom node or fix the workflow",
    "e2_missing_required_input": "node 2 (SaveImage): required input images is missing",
    "e3_missing_checkpoint": (
        "checkpoint does_not_exist.safetensors is not installed in ComfyUI "
        "(no checkpoint files are installed: put one into ComfyUI/models/checkpoints)"
    ),
    "e4_no_output_node": "the workflow has no output node (SaveImage, SaveVideo, …)",
    "e5_value_out_of_range": "node 1 (EmptyImage): width 0 is below the minimum 1",
    "e6_wrong_link_type": "node 2 (SaveImage): input images is linked to a LATENT output of node 1 but needs IMAGE",
    "e7_link_to_missing_node": "node 2 (SaveImage): links to node 99, which is not in the workflow",
    "e8_bad_combo_value": (
        "node 2 (ImageScale): upscale_method 'magic' is not one of nearest-exact, bilinear, area, bicubic, lanczos"
    ),
    "e9_wrong_value_type": "node 1 (EmptyImage): width 'wide' is not a valid INT",
    "e10_no_prompt_key": 'the request to ComfyUI carried no workflow (no "prompt" key)',
    "e12_missing_class_type": (
        "node 1 has no class_type: the workflow is not in ComfyUI's API format (export it with 'Export (API)')"
    ),
}


def _load(path: Path):
    return json.loads(path.read_text())


def _txt2img(steps: int = 6, seed: int = 1, checkpoint: str = "sd_xl_base_1.0.safetensors") -> dict:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "studio"}},
    }


def _collect(stream, prompt_id: str, timeout: float = 10.0) -> list:
    events = []
    while True:
        event = stream.next(timeout)
        assert event is not None, f"no event within {timeout}s; got {events}"
        events.append(event)
        if isinstance(event, Executing) and event.node is None and event.prompt_id == prompt_id:
            return events


def _wait_for(stream, kind, timeout: float = 10.0):
    while True:
        event = stream.next(timeout)
        assert event is not None, f"no {kind.__name__} within {timeout}s"
        if isinstance(event, kind):
            return event


@pytest.fixture
def client(fake_comfyui):
    with ComfyUIClient(fake_comfyui.url, timeout=5) as client:
        yield client


@pytest.fixture
def dead_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _without_tracebacks(body: dict) -> dict:
    for entry in body.get("node_errors", {}).values():
        for error in entry["errors"]:
            if "traceback" in error["extra_info"]:
                assert isinstance(error["extra_info"]["traceback"], list) and error["extra_info"]["traceback"]
                error["extra_info"]["traceback"] = "<traceback>"
    return body


@pytest.mark.parametrize("case", [case for case in ERROR_CASES if case != "e11_not_json"])
def test_the_fake_rejects_each_recorded_invalid_prompt_exactly_like_comfyui(fake_comfyui, case):
    fake_comfyui.set_checkpoints([])  # the recording was made on a server without model weights
    request = (ERRORS / f"{case}.request.json").read_text()

    response = httpx.post(f"{fake_comfyui.url}/prompt", content=request, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert _without_tracebacks(response.json()) == _without_tracebacks(_load(ERRORS / f"{case}.response.json"))
    assert fake_comfyui.prompts == []


def test_the_fake_answers_a_body_that_is_not_json_with_the_recorded_500(fake_comfyui):
    request = (ERRORS / "e11_not_json.request.txt").read_bytes()

    response = httpx.post(f"{fake_comfyui.url}/prompt", content=request)

    assert response.status_code == 500
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == (ERRORS / "e11_not_json.response.txt").read_text()


@pytest.mark.parametrize("case", [case for case in ERROR_CASES if case not in ("e10_no_prompt_key", "e11_not_json")])
def test_it_explains_each_rejected_workflow_in_human_terms(fake_comfyui, client, case):
    fake_comfyui.set_checkpoints([])
    graph = _load(ERRORS / f"{case}.request.json")["prompt"]

    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(graph, "studio-test")

    recorded = _load(ERRORS / f"{case}.response.json")
    assert rejected.value.error == recorded["error"]
    assert set(rejected.value.node_errors) == set(recorded["node_errors"])
    assert rejected.value.message == RECORDED_EXPECTATIONS[case]


@pytest.mark.parametrize("case", sorted(RECORDED_EXPECTATIONS))
def test_it_explains_each_recorded_rejection_body(case):
    recorded = _load(ERRORS / f"{case}.response.json")

    assert describe_rejection(recorded["error"], recorded["node_errors"]) == RECORDED_EXPECTATIONS[case]


def _node_error(kind: str, *, message: str = "", details: str = "", **extra_info) -> dict:
    """One entry of ComfyUI 0.3.64's node_errors[...]["errors"], shaped as execution.py's validate_inputs makes it."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def _options(class_type: str, input_name: str) -> list[str]:
    return {("CheckpointLoaderSimple", "ckpt_name"): ["a.safetensors", "b.safetensors"]}.get(
        (class_type, input_name), ["asked", "of the server"]
    )


# Rejections the recordings do not hold, in the shapes ComfyUI gives them, with the sentence the artist reads.
UNRECORDED_REJECTIONS = {
    "above the maximum, from the input's config": (
        "EmptyLatentImage",
        _node_error(
            "value_bigger_than_max",
            message="Value 99999 bigger than max of 16384",
            details="width",
            input_name="width",
            input_config=["INT", {"min": 16, "max": 16384}],
            received_value=99999,
        ),
        "node 5 (EmptyLatentImage): width 99999 is above the maximum 16384",
    ),
    "above the maximum, from the message alone": (
        "EmptyLatentImage",
        _node_error(
            "value_bigger_than_max",
            message="Value 9000 bigger than max of 8192",
            details="width",
            input_name="width",
            received_value=9000,
        ),
        "node 5 (EmptyLatentImage): width 9000 is above the maximum 8192",
    ),
    "below a negative minimum, from the message alone": (
        "KSampler",
        _node_error(
            "value_smaller_than_min",
            message="Value -5 smaller than min of -1.5",
            details="cfg",
            input_name="cfg",
            received_value=-5,
        ),
        "node 5 (KSampler): cfg -5 is below the minimum -1.5",
    ),
    "a limit neither the config nor the message gives": (
        "KSampler",
        _node_error(
            "value_smaller_than_min", message="too small", details="steps", input_name="steps", received_value=0
        ),
        "node 5 (KSampler): steps 0 is below the minimum ?",
    ),
    "options read from the details when the config has none": (
        "KSampler",
        _node_error(
            "value_not_in_list",
            message="Value not in list",
            details="sampler_name: 'eulerr' not in ['euler', 'heun']",
            input_name="sampler_name",
            input_config=None,
            received_value="eulerr",
        ),
        "node 5 (KSampler): sampler_name 'eulerr' is not one of euler, heun",
    ),
    "a long list ComfyUI only counts, asked of the server": (
        "KSampler",
        _node_error(
            "value_not_in_list",
            message="Value not in list",
            details="scheduler: 'wrong' not in (list of length 22)",
            input_name="scheduler",
            input_config=None,
            received_value="wrong",
        ),
        "node 5 (KSampler): scheduler 'wrong' is not one of asked, of the server",
    ),
    "options from the config when the details only count them": (
        "KSampler",
        _node_error(
            "value_not_in_list",
            details="sampler_name: 'x' not in (list of length 3)",
            input_name="sampler_name",
            input_config=[["a", "b", "c"], {}],
            received_value="x",
        ),
        "node 5 (KSampler): sampler_name 'x' is not one of a, b, c",
    ),
    "no model of that kind installed, as the details say": (
        "CheckpointLoaderSimple",
        _node_error(
            "value_not_in_list",
            details="ckpt_name: 'x.safetensors' not in []",
            input_name="ckpt_name",
            input_config=None,
            received_value="x.safetensors",
        ),
        "checkpoint x.safetensors is not installed in ComfyUI "
        "(no checkpoint files are installed: put one into ComfyUI/models/checkpoints)",
    ),
    "a loader whose input name means another kind of model elsewhere": (
        "CLIPVisionLoader",
        _node_error(
            "value_not_in_list",
            details="clip_name: 'v.safetensors' not in ['clip_vision_h.safetensors']",
            input_name="clip_name",
            input_config=None,
            received_value="v.safetensors",
        ),
        "CLIP vision model v.safetensors is not installed in ComfyUI (installed: clip_vision_h.safetensors)",
    ),
    "a minimum from the config when the message gives none": (
        "EmptyImage",
        _node_error(
            "value_smaller_than_min",
            message="Value smaller than min",
            details="width",
            input_name="width",
            input_config=["INT", {"min": 1, "max": 16384}],
            received_value=0,
        ),
        "node 5 (EmptyImage): width 0 is below the minimum 1",
    ),
    "a maximum from the config when the message gives none": (
        "EmptyImage",
        _node_error(
            "value_bigger_than_max",
            message="Value bigger than max",
            details="height",
            input_name="height",
            input_config=["INT", {"min": 1, "max": 16384}],
            received_value=99999,
        ),
        "node 5 (EmptyImage): height 99999 is above the maximum 16384",
    ),
    "a config without limits": (
        "EmptyImage",
        _node_error(
            "value_smaller_than_min",
            message="Value 0 smaller than min of 1",
            details="width",
            input_name="width",
            input_config=["INT"],
            received_value=0,
        ),
        "node 5 (EmptyImage): width 0 is below the minimum 1",
    ),
    "a wrong value type whose config is not a list": (
        "EmptyImage",
        _node_error("invalid_input_type", details="width", input_name="width", input_config="INT", received_value="w"),
        "node 5 (EmptyImage): width 'w' is not a valid value",
    ),
    "the input named first in details that list several": (
        "EmptyImage",
        _node_error("invalid_input_type", details="width, wide, invalid literal", received_value="wide"),
        "node 5 (EmptyImage): width 'wide' is not a valid value",
    ),
    "an input nobody names": (
        "SaveImage",
        _node_error("required_input_missing"),
        "node 5 (SaveImage): required input ? is missing",
    ),
    "a custom validation whose reason has a dash of its own": (
        "LoadImage",
        _node_error(
            "custom_validation_failed", details="image - Invalid image file: a - b.png - twice", input_name="image"
        ),
        "node 5 (LoadImage): image is invalid (Invalid image file: a - b.png - twice)",
    ),
    "a missing model named with the installed ones the server lists": (
        "CheckpointLoaderSimple",
        _node_error(
            "value_not_in_list",
            message="Value not in list",
            details="ckpt_name: 'x.safetensors' not in (list of length 40)",
            input_name="ckpt_name",
            input_config=None,
            received_value="x.safetensors",
        ),
        "checkpoint x.safetensors is not installed in ComfyUI (installed: a.safetensors, b.safetensors)",
    ),
    "a wrong value type without a config": (
        "EmptyImage",
        _node_error(
            "invalid_input_type",
            message="Failed to convert an input value to a INT value",
            details="width, wide, invalid literal",
            input_name="width",
            received_value="wide",
        ),
        "node 5 (EmptyImage): width 'wide' is not a valid value",
    ),
    "a link of the wrong type without its node": (
        "SaveImage",
        _node_error(
            "return_type_mismatch",
            message="Return type mismatch between linked nodes",
            details="images, received_type(LATENT) mismatch input_type(IMAGE)",
            input_name="images",
        ),
        "node 5 (SaveImage): input images is linked to a ? output of node ? but needs another type",
    ),
    "an exception other than a missing node": (
        "LoadImage",
        _node_error(
            "exception_during_inner_validation",
            message="Exception when validating inner node",
            details="division by zero",
            exception_type="ZeroDivisionError",
        ),
        "node 5 (LoadImage): ComfyUI could not validate it (division by zero)",
    ),
    "a missing node met in an inner validation": (
        "VAEDecode",
        _node_error(
            "exception_during_inner_validation",
            message="Exception when validating inner node",
            details="'42'",
            exception_type="KeyError",
        ),
        "node 5 (VAEDecode): links to node 42, which is not in the workflow",
    ),
    "a malformed link": (
        "SaveImage",
        _node_error(
            "bad_linked_input",
            message="Bad linked input, must be a length-2 list of [node_id, slot_index]",
            details="images",
            input_name="images",
            received_value=["8"],
        ),
        "node 5 (SaveImage): input images is a malformed link (must be [node_id, output_index])",
    ),
    "a custom validation with its reason": (
        "LoadImage",
        _node_error(
            "custom_validation_failed",
            message="Custom validation failed for node",
            details="image - Invalid image file: cat.png",
            input_name="image",
            received_value="cat.png",
        ),
        "node 5 (LoadImage): image is invalid (Invalid image file: cat.png)",
    ),
    "a custom validation without a separator": (
        "LoadImage",
        _node_error(
            "custom_validation_failed",
            message="Custom validation failed for node",
            details="bad-image",
            input_name="image",
        ),
        "node 5 (LoadImage): image is invalid (bad-image)",
    ),
    "the input named only in the details": (
        "SaveImage",
        _node_error("required_input_missing", message="Required input is missing", details="images: none given"),
        "node 5 (SaveImage): required input images is missing",
    ),
    "a kind this version does not know, with its message and details": (
        "SaveImage",
        _node_error("something_new", message="Something new went wrong", details="images"),
        "node 5 (SaveImage): Something new went wrong: images",
    ),
    "a kind this version does not know, with nothing else": (
        "SaveImage",
        _node_error("something_new"),
        "node 5 (SaveImage): something_new",
    ),
}


@pytest.mark.parametrize("case", sorted(UNRECORDED_REJECTIONS))
def test_it_explains_each_kind_of_node_error_comfyui_gives(case):
    class_type, node_error, sentence = UNRECORDED_REJECTIONS[case]
    node_errors = {"5": {"class_type": class_type, "errors": [node_error], "dependent_outputs": ["9"]}}

    assert describe_rejection({"type": "prompt_outputs_failed_validation"}, node_errors, options_of=_options) == (
        sentence
    )


def test_a_long_list_is_not_guessed_without_the_server():
    node_errors = {
        "5": {
            "class_type": "KSampler",
            "errors": [
                _node_error(
                    "value_not_in_list",
                    details="scheduler: 'wrong' not in (list of length 22)",
                    input_name="scheduler",
                    received_value="wrong",
                )
            ],
        }
    }

    assert describe_rejection({}, node_errors) == (
        "node 5 (KSampler): scheduler 'wrong' is not one of the options ComfyUI offers"
    )


def test_it_joins_the_problems_of_several_nodes_and_says_each_once():
    missing = _node_error("required_input_missing", details="images", input_name="images")
    node_errors = {
        "2": {"class_type": "SaveImage", "errors": [missing, missing]},
        "7": {"errors": [_node_error("bad_linked_input", details="samples", input_name="samples")]},
    }

    assert describe_rejection({}, node_errors) == (
        "node 2 (SaveImage): required input images is missing; "
        "node 7 (?): input samples is a malformed link (must be [node_id, output_index])"
    )


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            {"type": "invalid_prompt", "message": "Cannot execute because a node is missing", "details": "x"},
            "ComfyUI rejected the workflow: Cannot execute because a node is missing: x",
        ),
        ({"type": "server_busy", "message": "", "details": ""}, "ComfyUI rejected the workflow: server_busy"),
        ({}, "ComfyUI rejected the workflow: unknown error"),
        (None, "ComfyUI rejected the workflow: unknown error"),
        (
            {"type": "invalid_prompt", "message": "Cannot execute because node Foo does not exist.", "details": ""},
            "ComfyUI has no node type Foo: install the custom node or fix the workflow",
        ),
        (
            {"type": "invalid_prompt", "message": "missing class_type", "details": "Node ID '#12'"},
            "node 12 has no class_type: the workflow is not in ComfyUI's API format (export it with 'Export (API)')",
        ),
        (
            {"type": "invalid_prompt", "message": "missing class_type", "details": "none"},
            "node ? has no class_type: the workflow is not in ComfyUI's API format (export it with 'Export (API)')",
        ),
    ],
)
def test_it_explains_a_rejection_of_the_whole_prompt(error, sentence):
    assert describe_rejection(error, {}) == sentence


def test_it_lists_the_installed_checkpoints_when_the_requested_one_is_missing(fake_comfyui, client):
    fake_comfyui.set_checkpoints(["a.safetensors", "b.safetensors"])

    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(_txt2img(checkpoint="sd_xl_base_1.0.safetensors"), "studio-test")

    assert rejected.value.message == (
        "checkpoint sd_xl_base_1.0.safetensors is not installed in ComfyUI (installed: a.safetensors, b.safetensors)"
    )


@pytest.mark.parametrize("count", [21, 22, 30, 31, 45])
def test_with_more_checkpoints_than_comfyui_lists_the_message_still_names_them(fake_comfyui, client, count):
    installed = [f"model_{n:02d}.safetensors" for n in range(count)]
    fake_comfyui.set_checkpoints(installed)
    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(_txt2img(checkpoint="sd_xl_base_1.0.safetensors"), "studio-test")
    message = rejected.value.message
    assert message.startswith("checkpoint sd_xl_base_1.0.safetensors is not installed in ComfyUI (installed: model_00")
    assert "no checkpoint files are installed" not in message
    shown = min(count, 30)
    assert all(name in message for name in installed[:shown])
    assert (f"and {count - 30} more" in message) is (count > 30)


def test_a_wrong_sampler_among_many_is_named_with_the_valid_ones(fake_comfyui, client):
    graph = _txt2img(checkpoint=fake_comfyui.checkpoints[0])
    next(node for node in graph.values() if node["class_type"] == "KSampler")["inputs"]["sampler_name"] = "eulerr"
    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(graph, "studio-test")
    message = rejected.value.message
    assert "sampler_name 'eulerr' is not one of euler, " in message and "dpmpp_2m" in message


def test_it_reads_the_installed_list_from_a_combo_encoded_dropdown(fake_comfyui, client):
    fake_comfyui.set_checkpoints(["svd_xt.safetensors"])
    graph = {
        "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "missing.safetensors"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "3": {
            "class_type": "SVD_img2vid_Conditioning",
            "inputs": {
                "clip_vision": ["1", 1],
                "init_image": ["2", 0],
                "vae": ["1", 2],
                "width": 64,
                "height": 64,
                "video_frames": 4,
                "motion_bucket_id": 127,
                "fps": 6,
                "augmentation_level": 0.0,
            },
        },
        "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 2], "vae": ["1", 2]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "svd"}},
    }

    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(graph, "studio-test")

    config = rejected.value.node_errors["1"]["errors"][0]["extra_info"]["input_config"]
    assert config[0] == "COMBO"
    assert rejected.value.message == (
        "checkpoint missing.safetensors is not installed in ComfyUI (installed: svd_xt.safetensors)"
    )


def test_a_plain_text_500_becomes_a_permanent_error_carrying_the_text(client):
    # ComfyUI's own handler crashes on a node that is not an object: aiohttp then answers 500 plain text.
    with pytest.raises(PermanentError) as failed:
        client.submit({"1": 5}, "studio-test")

    assert not isinstance(failed.value, WorkflowRejected)
    assert "Server got itself in trouble" in failed.value.message


def test_a_run_streams_progress_then_the_output_then_the_end(fake_comfyui, client):
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=6), client_id)
        events = _collect(stream, prompt_id)

    kinds = [type(event) for event in events]
    progress = [event.value for event in events if isinstance(event, Progress)]
    assert progress == [1, 2, 3, 4, 5, 6]
    assert {event.max for event in events if isinstance(event, Progress)} == {6}
    assert kinds.index(ExecutionStart) < kinds.index(Progress) < kinds.index(Executed) < kinds.index(ExecutionSuccess)
    executed = next(event for event in events if isinstance(event, Executed))
    assert executed.prompt_id == prompt_id and executed.node == "9"
    assert [(file.filename, file.kind, file.type) for file in executed.files] == [
        ("studio_00001_.png", "image", "output")
    ]
    assert events[-1] == Executing(prompt_id=prompt_id, node=None)
    assert fake_comfyui.prompts[0]["client_id"] == client_id
    assert client.history(prompt_id)["status"]["status_str"] == "success"
    assert client.history(prompt_id)["outputs"]["9"] == executed.output


def test_a_prompts_messages_reach_only_the_submitting_client(client):
    with client.events("watcher") as watcher, client.events("submitter") as stream:
        prompt_id = client.submit(_txt2img(steps=2), "submitter")
        _collect(stream, prompt_id)
        seen = []
        while (event := watcher.next(0.2)) is not None:
            seen.append(event)

    assert seen and all(isinstance(event, Status) for event in seen)


@pytest.mark.parametrize("preview_metadata", [True, False], ids=["type4-with-metadata", "type1-legacy"])
def test_previews_decode_to_png_in_both_binary_formats(client, preview_metadata):
    client_id = uuid.uuid4().hex
    with client.events(client_id, preview_metadata=preview_metadata) as stream:
        prompt_id = client.submit(_txt2img(steps=3), client_id)
        previews = [event for event in _collect(stream, prompt_id) if isinstance(event, Preview)]

    assert len(previews) == 3
    for preview in previews:
        assert preview.mime == "image/png"
        assert preview.image.startswith(PNG_MAGIC)
        assert Image.open(io.BytesIO(preview.image)).format == "PNG"
        assert preview.prompt_id == (prompt_id if preview_metadata else None)
        assert preview.node == ("3" if preview_metadata else None)


def test_view_returns_the_produced_image_and_its_content_type(client):
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=1), client_id)
        [file] = next(event for event in _collect(stream, prompt_id) if isinstance(event, Executed)).files

    data, content_type = client.view(file.filename, file.subfolder, file.type)

    assert content_type == "image/png"
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_a_video_workflow_yields_a_video_file_that_downloads_as_mp4(client):
    graph = _load(PROTOCOLS / "weight_free_workflows" / "04_video_mp4.json")
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(graph, client_id)
        [file] = next(event for event in _collect(stream, prompt_id) if isinstance(event, Executed)).files

    data, content_type = client.view(file.filename, file.subfolder, file.type)

    assert (file.filename, file.subfolder, file.kind) == ("acc_video_00001_.mp4", "video", "video")
    assert content_type == "video/mp4"
    assert data[4:8] == b"ftyp" and data == (ASSETS / "sample.mp4").read_bytes()


def test_view_of_an_unknown_file_is_a_permanent_error(client):
    with pytest.raises(PermanentError, match="no file nope.png"):
        client.view("nope.png", "", "output")


def test_view_refuses_a_file_over_the_size_cap(fake_comfyui):
    with ComfyUIClient(fake_comfyui.url, max_download_bytes=100) as client:
        with pytest.raises(PermanentError, match="download limit"):
            client.view("example.png", "", "input")


def test_an_interrupt_mid_run_ends_the_prompt_as_interrupted(fake_comfyui, client):
    fake_comfyui.step_delay = 0.05
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=200), client_id)
        first = _wait_for(stream, Progress)
        client.interrupt(prompt_id)
        events = [first, *_collect(stream, prompt_id)]

    interrupted = [event for event in events if isinstance(event, ExecutionInterrupted)]
    assert interrupted == [ExecutionInterrupted(prompt_id=prompt_id, node_id="3", node_type="KSampler")]
    assert not any(isinstance(event, Executed | ExecutionSuccess) for event in events)
    assert max(event.value for event in events if isinstance(event, Progress)) < 200
    assert fake_comfyui.interrupts == [prompt_id]
    assert client.history(prompt_id)["status"]["status_str"] == "error"


def test_an_interrupt_for_another_prompt_leaves_the_running_one_alone(fake_comfyui, client):
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=5), client_id)
        _wait_for(stream, ExecutionStart)
        client.interrupt("some-other-prompt")
        events = _collect(stream, prompt_id)

    assert any(isinstance(event, ExecutionSuccess) for event in events)


def test_delete_queued_removes_a_pending_prompt_before_it_runs(fake_comfyui, client):
    fake_comfyui.hang_next()
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        blocking = client.submit(_txt2img(seed=1), client_id)
        pending = client.submit(_txt2img(seed=2), client_id)
        assert [item[1] for item in client.queue()["queue_pending"]] == [pending]

        client.delete_queued([pending])

        queue = client.queue()
        assert queue["queue_pending"] == [] and [item[1] for item in queue["queue_running"]] == [blocking]
        client.interrupt()
        _collect(stream, blocking)
    fake_comfyui.wait_idle()
    assert fake_comfyui.deletes == [pending]
    assert client.history(pending) is None


def test_a_hung_prompt_leaves_next_returning_none_on_timeout(fake_comfyui, client):
    fake_comfyui.hang_next()
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(), client_id)
        _wait_for(stream, Executing)

        assert stream.next(0.2) is None
        assert fake_comfyui.running_prompt_id() == prompt_id
        client.interrupt(prompt_id)
        assert any(isinstance(event, ExecutionInterrupted) for event in _collect(stream, prompt_id))


def test_an_execution_error_is_reported_with_the_failing_node(fake_comfyui, client):
    fake_comfyui.fail_next_with_execution_error(
        node_type="KSampler", message="CUDA out of memory", exception_type="torch.OutOfMemoryError"
    )
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(), client_id)
        events = _collect(stream, prompt_id)

    [error] = [event for event in events if isinstance(event, ExecutionError)]
    assert error == ExecutionError(
        prompt_id=prompt_id,
        node_id="3",
        node_type="KSampler",
        message="CUDA out of memory",
        exception_type="torch.OutOfMemoryError",
    )
    assert "node 3 (KSampler)" in error.describe() and "CUDA out of memory" in error.describe()
    assert not any(isinstance(event, ExecutionSuccess) for event in events)
    assert client.history(prompt_id)["status"]["status_str"] == "error"


def test_upload_image_returns_the_name_a_load_image_node_uses(fake_comfyui, client):
    png = Image.new("RGB", (8, 8), "red")
    buffer = io.BytesIO()
    png.save(buffer, format="PNG")

    name = client.upload_image(buffer.getvalue(), "reference.png")
    nested = client.upload_image(buffer.getvalue(), "reference.png", subfolder="studio")
    graph = _load(PROTOCOLS / "weight_free_workflows" / "09_upload_loadimage_save.json")
    graph["1"]["inputs"]["image"] = nested
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(graph, client_id)
        events = _collect(stream, prompt_id)

    assert (name, nested) == ("reference.png", "studio/reference.png")
    assert any(isinstance(event, ExecutionSuccess) for event in events)
    assert [upload["name"] for upload in fake_comfyui.uploads] == ["reference.png", "reference.png"]


def test_upload_without_overwrite_keeps_the_existing_file(client):
    first = client.upload_image(b"\x89PNG first", "ref.png", overwrite=False)
    second = client.upload_image(b"\x89PNG second", "ref.png", overwrite=False)

    assert (first, second) == ("ref.png", "ref (1).png")
    assert client.view("ref.png", "", "input")[0] == b"\x89PNG first"


def test_an_identical_resubmission_is_served_from_cache_without_a_new_file(client):
    runs = []
    for seed in (7, 7, 8):
        client_id = uuid.uuid4().hex
        with client.events(client_id) as stream:
            prompt_id = client.submit(_txt2img(seed=seed), client_id)
            runs.append(_collect(stream, prompt_id))

    files = [[f.filename for event in run if isinstance(event, Executed) for f in event.files] for run in runs]
    sampled = [any(isinstance(event, Progress) for event in run) for run in runs]
    assert files == [["studio_00001_.png"], ["studio_00001_.png"], ["studio_00002_.png"]]
    assert sampled == [True, False, True]


def test_object_info_for_one_class_matches_the_recording(client):
    assert client.object_info("EmptyImage") == _load(PROTOCOLS / "get_object_info_EmptyImage.json")
    assert client.object_info("NoSuchNode") == {}
    assert client.system_stats()["system"]["comfyui_version"]


@pytest.mark.parametrize("call", ["submit", "object_info", "queue", "events", "view", "interrupt"])
def test_an_unreachable_server_is_an_unreachable_error_saying_how_to_start_it(dead_url, call):
    calls = {
        "submit": lambda client: client.submit(_txt2img(), "x"),
        "object_info": lambda client: client.object_info(),
        "queue": lambda client: client.queue(),
        "events": lambda client: client.events("x"),
        "view": lambda client: client.view("a.png"),
        "interrupt": lambda client: client.interrupt(),
    }
    with ComfyUIClient(dead_url, timeout=2) as client, pytest.raises(ComfyUIUnreachable) as failed:
        calls[call](client)

    assert failed.value.message == (
        f"ComfyUI is not reachable at {dead_url}. Start it (python main.py --listen) or set COMFYUI_URLS."
    )


def test_losing_the_websocket_mid_run_is_an_unreachable_error(fake_comfyui, client):
    stream = client.events("lost")
    try:
        assert isinstance(stream.next(5), Status)
        fake_comfyui.stop()
        with pytest.raises(ComfyUIUnreachable, match="Lost the websocket connection"):
            stream.next(5)
    finally:
        stream.close()


# -- parser, fed with the recordings --------------------------------------------------------------


def test_the_recorded_progress_run_parses_to_steps_one_to_nine_and_its_output():
    recorded = _load(PROTOCOLS / "run_08_progress" / "ws_messages.json")

    events = [event for entry in recorded if (event := parse_json(entry["msg"])) is not None]

    prompt_id = "55f35970-a64d-4d77-a9e0-09e6b6ebbac3"
    assert [event.value for event in events if isinstance(event, Progress)] == list(range(1, 10))
    assert {(event.node, event.max, event.prompt_id) for event in events if isinstance(event, Progress)} == {
        ("3", 9, prompt_id)
    }
    [executed] = [event for event in events if isinstance(event, Executed)]
    assert [(f.node, f.filename, f.subfolder, f.type, f.kind) for f in executed.files] == [
        ("5", "acc_progress_00001_.png", "", "output", "image")
    ]
    assert events[0] == Status(queue_remaining=0, sid="acc-progress")
    assert events[-1] == Executing(prompt_id=prompt_id, node=None)


def test_the_recorded_runtime_error_parses_to_an_execution_error():
    recorded = _load(PROTOCOLS / "run_r1_runtime_error" / "ws_messages.json")

    events = [event for entry in recorded if (event := parse_json(entry["msg"])) is not None]

    [error] = [event for event in events if isinstance(event, ExecutionError)]
    assert (error.node_id, error.node_type, error.exception_type) == ("3", "SaveVideo", "av.error.ExternalError")
    assert "width not divisible by 2" in error.message


def test_output_files_collects_every_file_list_and_classifies_it():
    output = {
        "images": [{"filename": "anim_00001_.webp", "subfolder": "", "type": "output"}],
        "animated": [True],
        "gifs": [
            {
                "filename": "AnimateDiff_00001.mp4",
                "subfolder": "clips",
                "type": "output",
                "format": "video/h264-mp4",
                "frame_rate": 8,
            }
        ],
        "audio": [{"filename": "track.flac", "subfolder": "", "type": "output"}],
        "text": ["not a file"],
    }

    files = output_files("7", output)

    assert [(f.filename, f.subfolder, f.kind) for f in files] == [
        ("anim_00001_.webp", "", "video"),  # "animated": [true]: a moving picture is a video
        ("AnimateDiff_00001.mp4", "clips", "video"),
        ("track.flac", "", "audio"),
    ]


@pytest.mark.parametrize(
    ("output", "kinds"),
    [
        ({"images": [{"filename": "a.png"}, {"filename": "b.png"}]}, ["image", "image"]),
        ({"images": [{"filename": "a.png"}], "animated": [False]}, ["image"]),
        ({"images": [{"filename": "a.png"}, {"filename": "b.png"}], "animated": [True]}, ["video", "video"]),
        ({"images": [{"filename": "a.png"}, {"filename": "b.png"}], "animated": [False, True]}, ["image", "video"]),
        ({"images": [{"filename": "a.png"}], "animated": ["yes"]}, ["image"]),
        ({"images": [{"filename": "clip.mp4", "subfolder": "video"}], "animated": [True]}, ["video"]),
        ({"gifs": [{"filename": "AnimateDiff_00001.gif"}]}, ["video"]),
        ({"gifs": [{"filename": "AnimateDiff_00001.webp"}], "animated": [False]}, ["video"]),
        ({"ui_images": [{"filename": "still.webp"}], "animated": [True]}, ["image"]),
    ],
)
def test_a_moving_picture_is_a_video_whatever_its_format(output, kinds):
    assert [file.kind for file in output_files("9", output)] == kinds


def test_binary_frames_parse_in_both_preview_formats():
    jpeg = parse_binary(struct.pack(">II", 1, 1) + b"\xff\xd8jpeg")
    metadata = json.dumps({"node_id": "2", "prompt_id": "p1", "image_type": "image/webp"}).encode()
    tagged = parse_binary(struct.pack(">II", 4, len(metadata)) + metadata + b"RIFFwebp")

    assert jpeg == Preview(image=b"\xff\xd8jpeg", mime="image/jpeg")
    assert tagged == Preview(image=b"RIFFwebp", mime="image/webp", prompt_id="p1", node="2")
    assert parse_binary(struct.pack(">II", 3, 0) + b"text") is None


def test_unknown_and_informational_messages_are_skipped():
    assert parse_json({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {}}}) is None
    assert parse_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}}) is None
    assert parse_json({"type": "crystools.monitor", "data": {"cpu": 3}}) is None


WEIGHT_FREE_OUTPUTS = {
    "01_empty_save_png": [("acc_empty_00001_.png", "", "output", "image")],
    "02_blur_sharpen_scale_png": [
        ("acc_filtered_00001_.png", "", "output", "image"),
        ("acc_filtered_inverted_00001_.png", "", "output", "image"),
    ],
    "03_animated_webp_apng": [
        ("acc_anim_00001_.webp", "", "output", "video"),  # "animated": [true]
        ("acc_anim_00002_.png", "", "output", "video"),
    ],
    "04_video_mp4": [("acc_video_00001_.mp4", "video", "output", "video")],
    "05_video_webm": [("acc_webm_00001_.webm", "", "output", "video")],
    "06_preview_temp": [("temp", "image"), ("temp", "image")],
    "07_slow_blur_chain": [("acc_slow_00001_.png", "", "output", "image")],
    "08_progress_tiny_random_upscale_model": [("acc_progress_00001_.png", "", "output", "image")],
    "09_upload_loadimage_save": [("acc_loaded_inverted_00001_.png", "", "output", "image")],
    "10_websocket_image_output": [],
}


@pytest.mark.parametrize("name", sorted(WEIGHT_FREE_OUTPUTS))
def test_each_recorded_weight_free_workflow_runs_and_names_its_files_like_comfyui(client, name):
    graph = _load(PROTOCOLS / "weight_free_workflows" / f"{name}.json")
    if name.startswith("09"):
        client.upload_image(client.view("example.png", "", "input")[0], "acc_upload.png")
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(graph, client_id)
        events = _collect(stream, prompt_id)

    files = [f for event in events if isinstance(event, Executed) for f in event.files]
    if name.startswith("06"):
        assert [(f.type, f.kind) for f in files] == WEIGHT_FREE_OUTPUTS[name]
    else:
        assert [(f.filename, f.subfolder, f.type, f.kind) for f in files] == WEIGHT_FREE_OUTPUTS[name]
    assert any(isinstance(event, ExecutionSuccess) for event in events)
    for file in files:
        data, content_type = client.view(file.filename, file.subfolder, file.type)
        # An animated WEBP or PNG is a video to the studio and still an image type on the wire.
        moving_picture = file.filename.endswith((".webp", ".png"))
        assert content_type.startswith("image/" if file.kind == "image" or moving_picture else "video/") and data
    if name.startswith("08"):
        assert [event.value for event in events if isinstance(event, Progress)] == list(range(1, 10))
    if name.startswith("10"):
        assert [len(event.image) > 0 for event in events if isinstance(event, Preview)] == [True, True]


def test_an_odd_sized_h264_video_fails_at_run_time_like_the_recording(client):
    request = _load(PROTOCOLS / "run_r1_runtime_error" / "request.json")
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(request["prompt"], client_id)
        events = _collect(stream, prompt_id)

    [error] = [event for event in events if isinstance(event, ExecutionError)]
    assert (error.node_id, error.node_type, error.exception_type) == ("3", "SaveVideo", "av.error.ExternalError")
    assert "width not divisible by 2 (63x63)" in error.message


# -- every endpoint's failures, as the runner must tell them apart --------------------------------------------------

ENDPOINTS = {
    # name: (call, the path the fake counts, the path the message names)
    "object_info": (lambda client: client.object_info(), "/object_info", "/object_info"),
    "object_info of one class": (
        lambda client: client.object_info("EmptyImage"),
        "/object_info/EmptyImage",
        "/object_info/EmptyImage",
    ),
    "system_stats": (lambda client: client.system_stats(), "/system_stats", "/system_stats"),
    "queue": (lambda client: client.queue(), "/queue", "/queue"),
    "history": (lambda client: client.history("abc"), "/history", "/history/abc"),
    "interrupt": (lambda client: client.interrupt("abc"), "/interrupt", "/interrupt"),
    "free": (lambda client: client.free(), "/free", "/free"),
    "delete_queued": (lambda client: client.delete_queued(["abc"]), "/queue", "/queue"),
    "upload_image": (lambda client: client.upload_image(b"\x89PNG", "a.png"), "/upload/image", "/upload/image"),
    "view": (lambda client: client.view("example.png", "", "input"), "/view", "/view"),
    "submit": (lambda client: client.submit(_txt2img(), "x"), "/prompt", "/prompt"),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, PermanentError), (401, PermanentError), (403, PermanentError), (502, TransientError), (503, TransientError)],
)
def test_each_endpoint_tells_a_passing_failure_from_a_lasting_one_and_asks_once(
    fake_comfyui, client, endpoint, status, kind
):
    call, counted, named = ENDPOINTS[endpoint]
    fake_comfyui.fail_path(counted, status, body=f"  proxy says {status}  ")

    with pytest.raises(EngineError) as failed:
        call(client)

    assert type(failed.value) is kind
    assert (
        failed.value.message
        == f"ComfyUI at {fake_comfyui.url} answered {named} with HTTP {status}: proxy says {status}"
    )
    assert fake_comfyui.hits(counted) == 1  # the client never retries: the runner decides


def test_a_long_error_page_is_cut_to_its_first_500_characters(fake_comfyui, client):
    fake_comfyui.fail_path("/queue", 503, body="x" * 600)

    with pytest.raises(TransientError) as failed:
        client.queue()

    assert failed.value.message == f"ComfyUI at {fake_comfyui.url} answered /queue with HTTP 503: {'x' * 500}"


@pytest.mark.parametrize("endpoint", ["object_info", "system_stats", "queue", "history"])
def test_an_answer_that_is_not_json_is_a_lasting_error_naming_the_endpoint(fake_comfyui, client, endpoint):
    call, counted, named = ENDPOINTS[endpoint]
    fake_comfyui.fail_path(counted, 200, body="<html>login</html>")

    with pytest.raises(PermanentError) as failed:
        call(client)

    assert failed.value.message == f"ComfyUI at {fake_comfyui.url} answered {named} with something that is not JSON"


def test_comfyuis_own_plain_text_500_on_prompt_is_lasting_and_carries_its_text(fake_comfyui, client):
    fake_comfyui.fail_path("/prompt", 500, body="500 Internal Server Error\n\nServer got itself in trouble")

    with pytest.raises(PermanentError) as failed:
        client.submit(_txt2img(), "x")

    assert failed.value.message == (
        "ComfyUI could not process the workflow: 500 Internal Server Error\n\nServer got itself in trouble"
    )
    assert fake_comfyui.hits("/prompt") == 1


def test_a_prompt_accepted_without_a_prompt_id_is_a_lasting_error(fake_comfyui, client):
    fake_comfyui.fail_path("/prompt", 200, body='{"number": 3}')

    with pytest.raises(PermanentError) as failed:
        client.submit(_txt2img(), "x")

    assert failed.value.message == f"ComfyUI at {fake_comfyui.url} accepted the workflow but returned no prompt_id"


def test_a_rejection_carries_comfyuis_error_and_node_errors_as_its_detail(fake_comfyui, client):
    fake_comfyui.set_checkpoints([])
    graph = _load(ERRORS / "e5_value_out_of_range.request.json")["prompt"]

    with pytest.raises(WorkflowRejected) as rejected:
        client.submit(graph, "x")

    recorded = _load(ERRORS / "e5_value_out_of_range.response.json")
    assert rejected.value.detail["error"] == recorded["error"]
    assert _without_tracebacks({"node_errors": rejected.value.detail["node_errors"]}) == _without_tracebacks(
        {"node_errors": recorded["node_errors"]}
    )


def test_an_unreachable_server_keeps_the_reason_in_the_detail(dead_url):
    with ComfyUIClient(dead_url, timeout=2) as client, pytest.raises(ComfyUIUnreachable) as failed:
        client.view("a.png")

    assert "refused" in failed.value.detail["reason"].lower()


# -- what each call sends and returns -------------------------------------------------------------------------------


def test_free_asks_comfyui_to_unload_its_models_and_free_its_memory(fake_comfyui, client):
    client.free()

    assert [free["body"] for free in fake_comfyui.frees] == [{"unload_models": True, "free_memory": True}]


def test_history_gives_the_record_of_that_prompt_only(fake_comfyui, client):
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=1), client_id)
        _collect(stream, prompt_id)

    record = client.history(prompt_id)

    assert record["status"]["status_str"] == "success"
    assert client.history("no-such-prompt") is None
    assert client.history("a/b?c") is None  # quoted whole: never another endpoint


def test_history_that_is_not_a_mapping_is_no_record(fake_comfyui, client):
    fake_comfyui.fail_path("/history", 200, body="[]")

    assert client.history("abc") is None


def test_object_info_of_a_class_name_with_a_slash_asks_for_that_class(client):
    assert client.object_info("a/b") == {}


def test_upload_with_overwrite_replaces_the_file_under_the_same_name(fake_comfyui, client):
    first = client.upload_image(b"\x89PNG first", "ref.png")
    second = client.upload_image(b"\x89PNG second", "ref.png")

    assert (first, second) == ("ref.png", "ref.png")
    assert client.view("ref.png", "", "input")[0] == b"\x89PNG second"
    assert [(upload["type"], upload["overwrite"]) for upload in fake_comfyui.uploads] == [
        ("input", True),
        ("input", True),
    ]


def test_view_returns_the_bytes_whole_and_the_servers_own_content_type(fake_comfyui, client):
    big = bytes(range(256)) * 4096  # 1 MiB: many chunks
    client.upload_image(big, "big.png")

    data, content_type = client.view("big.png", "", "input")

    assert data == big
    assert content_type == "image/png"


def test_view_trusts_a_declared_type_and_guesses_only_a_missing_or_generic_one(fake_comfyui, client):
    fake_comfyui.view_override = ("image/webp; charset=binary", b"RIFF")
    assert client.view("example.png", "", "input") == (b"RIFF", "image/webp")

    fake_comfyui.view_override = ("application/octet-stream", b"RIFF")
    assert client.view("example.png", "", "input") == (b"RIFF", "image/png")

    client.upload_image(b"????", "blob.unknownext")
    fake_comfyui.view_override = None
    assert client.view("blob.unknownext", "", "input") == (b"????", "application/octet-stream")


def test_view_of_a_missing_file_names_its_folder_and_subfolder(client):
    with pytest.raises(PermanentError) as failed:
        client.view("nope.png", "studio", "temp")

    assert failed.value.message == "ComfyUI has no file studio/nope.png in its temp folder"

    with pytest.raises(PermanentError) as failed:
        client.view("nope.png")

    assert failed.value.message == "ComfyUI has no file nope.png in its output folder"


@pytest.mark.parametrize("limit", [2 * 1024 * 1024 - 1, 2 * 1024 * 1024])
def test_view_takes_a_file_of_exactly_the_cap_and_refuses_one_byte_more(fake_comfyui, limit):
    size = 2 * 1024 * 1024
    with ComfyUIClient(fake_comfyui.url, max_download_bytes=limit) as client:
        client.upload_image(b"\0" * size, "exact.png")
        if limit >= size:
            assert len(client.view("exact.png", "", "input")[0]) == size
        else:
            with pytest.raises(PermanentError) as failed:
                client.view("exact.png", "", "input")
            assert failed.value.message == "ComfyUI output exact.png is larger than the 1 MB download limit"


def test_view_counts_the_bytes_of_an_answer_that_declares_no_length(fake_comfyui):
    fake_comfyui.view_chunked = True
    with ComfyUIClient(fake_comfyui.url, max_download_bytes=3 * 1024 * 1024) as client:
        client.upload_image(b"\1" * (3 * 1024 * 1024), "fits.png")
        client.upload_image(b"\1" * (3 * 1024 * 1024 + 1), "over.png")

        assert len(client.view("fits.png", "", "input")[0]) == 3 * 1024 * 1024
        with pytest.raises(PermanentError) as failed:
            client.view("over.png", "", "input")

    assert failed.value.message == "ComfyUI output over.png is larger than the 3 MB download limit"


@pytest.mark.parametrize(
    ("class_type", "input_name", "options"),
    [
        ("KSampler", "scheduler", "required"),
        ("CLIPLoader", "device", ["default", "cpu"]),  # an optional input, in the legacy encoding
        ("KSampler", "steps", None),  # not a dropdown
        ("NoSuchNode", "anything", None),
        ("KSampler", "no_such_input", None),
    ],
)
def test_dropdown_options_reads_required_and_optional_dropdowns(client, class_type, input_name, options):
    found = client.dropdown_options(class_type, input_name)

    if options == "required":
        assert {"normal", "karras", "simple"} <= set(found)
    else:
        assert found == options


def test_dropdown_options_is_none_when_the_server_cannot_say(fake_comfyui, client):
    fake_comfyui.fail_path("/object_info/KSampler", 503)

    assert client.dropdown_options("KSampler", "scheduler") is None


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        (None, None),
        ([], None),
        ("COMBO", None),
        (["INT", {"min": 1}], None),
        ([["a", 2], {}], ["a", "2"]),
        ((("a",),), ["a"]),
        (["COMBO", {"options": ["x", 3]}], ["x", "3"]),
        (["COMBO"], []),
        (["COMBO", "not a mapping"], []),
        (["COMBO", {}], []),
    ],
)
def test_combo_options_reads_both_encodings_of_a_dropdown(spec, options):
    assert combo_options(spec) == options


@pytest.mark.parametrize(
    ("class_type", "input_name", "expected"),
    [
        ("CheckpointLoaderSimple", "ckpt_name", ("checkpoint", "checkpoints")),
        ("UNETLoader", "unet_name", ("diffusion model", "diffusion_models")),
        ("SomeCustomLoader", "lora_name", ("LoRA", "loras")),
        ("CLIPVisionLoader", "clip_name", ("CLIP vision model", "clip_vision")),
        ("CLIPLoader", "clip_name", ("text encoder", "text_encoders")),
        ("KSampler", "sampler_name", None),
    ],
)
def test_model_input_names_the_file_kind_and_its_folder(class_type, input_name, expected):
    assert model_input(class_type, input_name) == expected


def test_a_closed_event_stream_says_so(fake_comfyui, client):
    stream = client.events("closing")
    stream.close()

    with pytest.raises(TransientError) as failed:
        stream.next(1)

    assert failed.value.message == f"The event stream from ComfyUI at {fake_comfyui.url} is closed"


def test_iterating_an_event_stream_yields_events_until_the_caller_stops(fake_comfyui, client):
    client_id = uuid.uuid4().hex
    with client.events(client_id) as stream:
        prompt_id = client.submit(_txt2img(steps=2), client_id)
        seen = []
        for event in stream:
            seen.append(event)
            if isinstance(event, Executing) and event.node is None and event.prompt_id == prompt_id:
                break

    assert sum(isinstance(event, Progress) for event in seen) == 2


def test_losing_the_websocket_keeps_the_reason_in_the_detail(fake_comfyui, client):
    stream = client.events("lost-detail")
    try:
        assert isinstance(stream.next(5), Status)
        fake_comfyui.stop()
        with pytest.raises(ComfyUIUnreachable) as failed:
            stream.next(5)
    finally:
        stream.close()

    assert failed.value.message == f"Lost the websocket connection to ComfyUI at {fake_comfyui.url}"
    assert "reason" in failed.value.detail
