"""Users' own API-format ComfyUI workflows: validated on upload, filled in structurally.

The file is untrusted: size, nesting depth, node count and number magnitudes are bounded before
anything else looks at it, and every error names what to fix.
"""

import copy
import json
import math

from django.conf import settings

from generations.models import CustomWorkflow
from generations.services import uploads
from generations.services.brief import BriefError
from generations.services.json_text import Structure

MAX_NODES = 500
MAX_DEPTH = 12
MAX_NUMBER = 2**64
MAX_ID_CHARS = 64
OUTPUT_HINTS = ("Save", "Preview")
TEXT_FIELDS = ("positive_prompt", "negative_prompt")
NUMBER_FIELDS = ("seed", "width", "height", "steps")


class WorkflowInvalid(ValueError):
    pass


def _too_deep(raw: str) -> bool:
    """Bracket depth outside strings, measured before json.loads (which would recurse into it)."""
    depth = 0
    for _, char in Structure(raw):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH + 1:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_graph(raw: bytes | str) -> dict:
    if len(raw) > settings.WORKFLOW_UPLOAD_MAX_BYTES:
        raise WorkflowInvalid(f"The file is {len(raw):,} bytes; the limit is {settings.WORKFLOW_UPLOAD_MAX_BYTES:,}.")
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise WorkflowInvalid("That is not valid JSON (the file is not UTF-8 text).") from None
    if _too_deep(text):
        raise WorkflowInvalid("The workflow is nested too deeply to be an API-format workflow.")
    try:
        graph = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise WorkflowInvalid("The workflow is nested too deeply to be an API-format workflow.") from None
    except ValueError as exc:
        raise WorkflowInvalid(f"That is not valid JSON ({exc}).") from None
    if isinstance(graph, dict) and "prompt" in graph and isinstance(graph["prompt"], dict):
        graph = graph["prompt"]  # a saved /prompt request body
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise WorkflowInvalid(
            "This is ComfyUI's editor format. Export it with “Save (API Format)” (enable dev mode options) instead."
        )
    validate_graph(graph)
    return graph


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    return level


def _bad_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_NUMBER
    if isinstance(value, float):
        return not math.isfinite(value) or abs(value) > MAX_NUMBER
    if isinstance(value, list):
        return any(_bad_number(item) for item in value)
    if isinstance(value, dict):
        return any(_bad_number(item) for item in value.values())
    return False


def _is_link(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def validate_graph(graph) -> None:
    if not isinstance(graph, dict) or not graph:
        raise WorkflowInvalid('The workflow must be a JSON object of nodes: {"3": {"class_type": …, "inputs": {…}}}.')
    if len(graph) > MAX_NODES:
        raise WorkflowInvalid(f"The workflow has {len(graph)} nodes; the limit is {MAX_NODES}.")
    if _depth(graph) > MAX_DEPTH:
        raise WorkflowInvalid("The workflow is nested too deeply to be an API-format workflow.")
    for node_id, node in graph.items():
        if not isinstance(node_id, str) or not node_id or len(node_id) > MAX_ID_CHARS:
            raise WorkflowInvalid(f'Node id {str(node_id)[:MAX_ID_CHARS]!r} is not a short text id like "3".')
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str) or not node["class_type"]:
            raise WorkflowInvalid(f"Node {node_id!r} has no class_type.")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise WorkflowInvalid(f"Node {node_id} ({node['class_type']}): inputs must be an object.")
        for name, value in inputs.items():
            if not isinstance(name, str) or not name:
                raise WorkflowInvalid(f"Node {node_id} ({node['class_type']}): an input has no name.")
            if _bad_number(value):
                raise WorkflowInvalid(f"Node {node_id} ({node['class_type']}): {name} is an absurdly large number.")
            if _is_link(value):
                if value[0] not in graph:
                    raise WorkflowInvalid(
                        f"Node {node_id} ({node['class_type']}): input {name} links to node {value[0]}, "
                        "which is not in the workflow."
                    )
                if value[1] < 0:
                    raise WorkflowInvalid(
                        f"Node {node_id} ({node['class_type']}): input {name} links to output {value[1]} of "
                        f"node {value[0]}; outputs are numbered from 0."
                    )
    if not any(any(h in node["class_type"] for h in OUTPUT_HINTS) for node in graph.values()):
        raise WorkflowInvalid("The workflow has no output node (SaveImage, SaveVideo, SaveAnimatedWEBP, …).")


def parse_target(text: str, graph: dict, field: str) -> list | None:
    """ "6.text" -> ["6", "text"], checked against the graph."""
    text = (text or "").strip()
    if not text:
        return None
    node_id, dot, input_name = text.partition(".")
    if not dot or not input_name:
        raise WorkflowInvalid(f"{field}: write NODE_ID.INPUT_NAME, e.g. 6.text; got {text!r}.")
    node = graph.get(node_id)
    if node is None:
        raise WorkflowInvalid(f"{field}: node {node_id} is not in the workflow.")
    if input_name not in node.get("inputs", {}):
        raise WorkflowInvalid(
            f"{field}: node {node_id} ({node['class_type']}) has no input {input_name!r} "
            f"(it has: {', '.join(sorted(node.get('inputs', {}))) or 'none'})."
        )
    current = node["inputs"][input_name]
    if isinstance(current, list):
        raise WorkflowInvalid(f"{field}: {node_id}.{input_name} is a link to another node, not a value.")
    if field in TEXT_FIELDS and not isinstance(current, str):
        raise WorkflowInvalid(f"{field}: {node_id}.{input_name} holds {current!r}, not text; pick a text input.")
    if field in NUMBER_FIELDS and (isinstance(current, bool) or not isinstance(current, int | float)):
        raise WorkflowInvalid(f"{field}: {node_id}.{input_name} holds {current!r}, not a number; pick a number input.")
    return [node_id, input_name]


def build_mapping(graph: dict, targets: dict[str, str]) -> dict:
    mapping = {}
    for field in CustomWorkflow.MAPPABLE:
        target = parse_target(targets.get(field, ""), graph, field)
        if target:
            clash = next((other for other, used in mapping.items() if used == target), None)
            if clash:
                raise WorkflowInvalid(f"{field} and {clash} both point at {target[0]}.{target[1]}; give each its own.")
            mapping[field] = target
    # No prompt input is allowed (an upscaler, a fixed-prompt graph): the card then says the prompt was not used.
    return mapping


def save(session, name: str, raw: bytes, targets: dict[str, str]) -> CustomWorkflow:
    graph = parse_graph(raw)
    try:
        uploads.check_file_readers(graph, session.owner_id)
    except uploads.ForeignFile as exc:
        raise WorkflowInvalid(str(exc)) from None
    mapping = build_mapping(graph, targets)
    workflow, _ = CustomWorkflow.objects.update_or_create(
        session=session, defaults={"name": name[:200] or "My workflow", "graph": graph, "mapping": mapping}
    )
    return workflow


def apply_to_graph(graph: dict, mapping: dict, brief: dict) -> dict:
    """A new graph with the brief's values in the mapped inputs; the stored graph is never touched."""
    applied = copy.deepcopy(graph)
    for field, (node_id, input_name) in mapping.items():
        if field in brief:
            applied[node_id]["inputs"][input_name] = brief[field]
    return applied


# How the card names the brief values a custom workflow can take; the card's other choices never reach it.
FIELD_WORDS = {
    "positive_prompt": "prompt",
    "negative_prompt": "negative prompt",
    "seed": "seed",
    "width": "width",
    "height": "height",
    "steps": "steps",
}
NEVER_TAKEN = "the model, style, LoRAs, CFG, sampler and scheduler"


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def card_note(session) -> str:
    """What the brief card says about the session's custom workflow: which of its values it takes ("" without one)."""
    workflow = CustomWorkflow.objects.filter(session=session).first()
    if workflow is None:
        return ""
    taken = [FIELD_WORDS[field] for field in CustomWorkflow.MAPPABLE if field in workflow.mapping]
    ignored = [FIELD_WORDS[field] for field in CustomWorkflow.MAPPABLE if field not in workflow.mapping]
    takes = f"takes only the {_listed(taken)} from this card" if taken else "takes nothing from this card"
    also = f"the {_listed(ignored)}, as well as " if ignored else ""
    return f"“My custom workflow” ({workflow.name}) {takes}; it ignores {also}{NEVER_TAKEN}."


def takes_prompt(workflow: CustomWorkflow) -> bool:
    return "positive_prompt" in workflow.mapping


def apply_custom_workflow(session, brief: dict) -> tuple[dict, bool]:
    """The session's workflow with the brief's values in it, and whether it takes the brief's prompt."""
    workflow = CustomWorkflow.objects.filter(session=session).first()
    if workflow is None:
        raise BriefError("this session has no custom workflow: upload one in the session settings")
    try:  # again at each use: a workflow stored before this rule, or a session that changed hands
        uploads.check_file_readers(workflow.graph, session.owner_id)
    except uploads.ForeignFile as exc:
        raise BriefError(f"the custom workflow cannot run: {exc} Upload it again without that node") from None
    return apply_to_graph(workflow.graph, workflow.mapping, brief), takes_prompt(workflow)
