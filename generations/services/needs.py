"""What the built-in workflows need from a ComfyUI server, read from the graphs they build.

A check that lists node names by hand drifts from the graphs (it once checked SaveAnimatedWEBP
while the video graph saved with CreateVideo and SaveVideo): these are the graphs' own nodes.
"""

from generations.clients.comfyui import listed, model_input
from generations.services.brief import DEFAULTS, VIDEO_CHECKPOINT_HINTS, is_video_checkpoint
from generations.services.catalog import Catalog
from generations.workflows import TEMPLATES

# Every field a builder reads; the values do not matter, only which nodes the graph has.
_SAMPLE_BRIEF = {**DEFAULTS, "positive_prompt": "a check", "checkpoint": "model.safetensors", "seed": 1}
_SAMPLE_GRAPHS = {
    "txt2img": lambda: TEMPLATES["txt2img"](_SAMPLE_BRIEF),
    "img2img": lambda: TEMPLATES["img2img"](_SAMPLE_BRIEF, "input.png"),
    "video": lambda: TEMPLATES["video"](_SAMPLE_BRIEF, video_checkpoint="svd_xt.safetensors"),
}
IMAGE_TEMPLATES = ("txt2img", "img2img")
VIDEO_TEMPLATES = ("video",)
VIDEO_MODEL_HINT = (
    "no video model is installed (a Stable Video Diffusion checkpoint, e.g. svd_xt.safetensors, whose name "
    f"contains {' or '.join(VIDEO_CHECKPOINT_HINTS)}): put one in ComfyUI/models/checkpoints, or video "
    "generations will fail there"
)


def node_classes(*templates: str) -> list[str]:
    """The node classes the named templates' graphs use, in a stable order."""
    return sorted({node["class_type"] for name in templates for node in _SAMPLE_GRAPHS[name]().values()})


def missing_nodes(catalog: Catalog, *templates: str) -> list[str]:
    return [node for node in node_classes(*templates) if node not in catalog.node_types]


def not_runnable(catalog: Catalog, graph: dict) -> str | None:
    """Why this server cannot run ``graph`` (node classes it does not have, or a model file or option it does
    not offer), or None. A server whose catalog could not be read is not judged: its own answer to the submit
    will say."""
    if not catalog.available or not catalog.node_types:
        return None
    where = f"ComfyUI at {catalog.server}" if catalog.server else "ComfyUI"
    missing = sorted({str(node.get("class_type")) for node in graph.values()} - catalog.node_types)
    if missing:
        return (
            f"{where} does not have the node{'s' if len(missing) > 1 else ''} {', '.join(missing)} that this "
            "workflow uses: update ComfyUI, or install the custom nodes that provide them (ComfyUI-Manager can), "
            "then generate again"
        )
    for class_type, input_name, value in _chosen_values(graph):
        options = catalog.choices.get((class_type, input_name))
        if options is None or value in options:
            continue
        if model := model_input(class_type, input_name):
            noun, folder = model
            return (
                f"{where} does not have the {noun} {value} (ComfyUI/models/{folder}) that this workflow's "
                f"{class_type} loads: put the file there, or choose one it has "
                f"({listed(options) or f'no {noun} is installed'})"
            )
        return f"{where} has no {value!r} for {class_type}'s {input_name}; it offers {listed(options) or 'nothing'}"
    return None


def _chosen_values(graph: dict):
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        for input_name, value in (node.get("inputs") or {}).items():
            if isinstance(value, str):  # a link is a list, a number is checked by ComfyUI's own ranges
                yield str(node.get("class_type")), input_name, value


def video_checkpoints(catalog: Catalog) -> list[str]:
    return [name for name in catalog.checkpoints if is_video_checkpoint(name)]
