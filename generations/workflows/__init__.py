"""ComfyUI API-format workflows built as data from a brief.

Each builder returns a fresh dict graph {node_id: {"class_type", "inputs"}}; links are
[node_id, output_index]. Nothing is ever assembled from strings.
"""

from generations.workflows.builders import img2img, img2video, safe_prefix, txt2img

TEMPLATES = {"txt2img": txt2img, "img2img": img2img, "video": img2video}

__all__ = ["TEMPLATES", "img2img", "img2video", "safe_prefix", "txt2img"]
