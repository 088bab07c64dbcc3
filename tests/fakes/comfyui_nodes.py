"""Node classes the fake ComfyUI knows, in /object_info format, and ComfyUI's /prompt validation.

The specs copy ComfyUI 0.3.64 (tooltips trimmed). Like real servers, some dropdowns use the
legacy encoding [["a", "b"], {...}] and others the newer ["COMBO", {"options": [...]}].
validate_prompt() reproduces execution.validate_prompt / validate_inputs closely enough that
the recorded 400 bodies in tests/recordings/comfyui/errors/ come out identical.
"""

from __future__ import annotations

import copy
import functools
import json
import traceback
from pathlib import Path

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim", "uni_pc"]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal"]
SAMPLER_NODES = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
# Other nodes that report `progress`, with their step count (tiled upscaling reports one step per tile).
STEPPED_NODES = {"ImageUpscaleWithModel": 9}
UPSCALE_MODELS = ["RealESRGAN_x4plus.pth", "acc_tiny_random_compact_x2.safetensors"]
UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
VHS_FORMATS = ["image/gif", "image/webp", "video/h264-mp4", "video/webm"]
# Inputs checked by the node's own VALIDATE_INPUTS instead of the dropdown (LoadImage accepts subfolders).
CUSTOM_VALIDATED = {("LoadImage", "image")}
_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _int(default, minimum, maximum, step=None, **extra):
    options = {"default": default, "min": minimum, "max": maximum}
    if step is not None:
        options["step"] = step
    return ["INT", {**options, **extra}]


def _float(default, minimum, maximum, step, **extra):
    return ["FLOAT", {"default": default, "min": minimum, "max": maximum, "step": step, **extra}]


def _node(
    name,
    required,
    *,
    optional=None,
    hidden=None,
    output=(),
    output_name=None,
    output_node=False,
    category="",
    module="nodes",
    display_name=None,
):
    inputs = {"required": required}
    order = {"required": list(required)}
    if optional:
        inputs["optional"] = optional
        order["optional"] = list(optional)
    if hidden:
        inputs["hidden"] = hidden
        order["hidden"] = list(hidden)
    return {
        "input": inputs,
        "input_order": order,
        "output": list(output),
        "output_is_list": [False] * len(output),
        "output_name": list(output_name or output),
        "name": name,
        "display_name": display_name or name,
        "description": "",
        "python_module": module,
        "category": category,
        "output_node": output_node,
    }


RECORDED_OBJECT_INFO = Path(__file__).resolve().parents[1] / "recordings" / "comfyui" / "object_info_0.3.64.json"
# Loader inputs whose dropdown lists the files of a models folder (how ComfyUI fills them).
MODEL_FOLDERS = {
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("DualCLIPLoader", "clip_name1"): "text_encoders",
    ("DualCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name1"): "text_encoders",
    ("TripleCLIPLoader", "clip_name2"): "text_encoders",
    ("TripleCLIPLoader", "clip_name3"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
}


@functools.cache
def _recorded() -> dict:
    return json.loads(RECORDED_OBJECT_INFO.read_text())


def recorded_definitions(models: dict[str, list[str]]) -> dict:
    """Every built-in node of the recorded ComfyUI 0.3.64, its loaders listing ``models`` (folder -> files).
    Shared between calls: read it, never change it."""
    return _recorded_with(tuple(sorted((folder, tuple(files)) for folder, files in models.items())))


@functools.lru_cache(maxsize=32)
def _recorded_with(models: tuple) -> dict:
    by_folder = dict(models)
    definitions = copy.deepcopy(_recorded())
    for (class_type, input_name), folder in MODEL_FOLDERS.items():
        spec = definitions[class_type]["input"]["required"][input_name]
        files = list(by_folder.get(folder, ()))
        if spec[0] == "COMBO":
            spec[1]["options"] = files
        else:
            spec[0] = files
    return definitions


def node_definitions(checkpoints: list[str], input_files: list[str]) -> dict:
    image = ["IMAGE", {}]
    prefix = ["STRING", {"default": "ComfyUI", "tooltip": "The prefix for the file to save."}]
    save_hidden = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}
    seed = _int(0, 0, 0xFFFFFFFFFFFFFFFF, control_after_generate=True)
    steps = _int(20, 1, 10000)
    cfg = _float(8.0, 0.0, 100.0, 0.1, round=0.01)
    sampler_name = [list(SAMPLERS), {"tooltip": "The algorithm used when sampling."}]
    scheduler = ["COMBO", {"options": list(SCHEDULERS), "tooltip": "The scheduler controls how noise is removed."}]
    nodes = [
        _node(
            "CheckpointLoaderSimple",
            {"ckpt_name": [list(checkpoints), {"tooltip": "The name of the checkpoint (model) to load."}]},
            output=("MODEL", "CLIP", "VAE"),
            category="loaders",
            display_name="Load Checkpoint",
        ),
        _node(
            "ImageOnlyCheckpointLoader",
            {"ckpt_name": ["COMBO", {"options": list(checkpoints)}]},
            output=("MODEL", "CLIP_VISION", "VAE"),
            category="loaders/video_models",
            module="comfy_extras.nodes_video_model",
        ),
        _node(
            "CLIPTextEncode",
            {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]},
            output=("CONDITIONING",),
            category="conditioning",
        ),
        _node(
            "EmptyLatentImage",
            {"width": _int(512, 16, 16384, 8), "height": _int(512, 16, 16384, 8), "batch_size": _int(1, 1, 4096)},
            output=("LATENT",),
            category="latent",
        ),
        _node(
            "KSampler",
            {
                "model": ["MODEL", {}],
                "seed": seed,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": sampler_name,
                "scheduler": scheduler,
                "positive": ["CONDITIONING", {}],
                "negative": ["CONDITIONING", {}],
                "latent_image": ["LATENT", {}],
                "denoise": _float(1.0, 0.0, 1.0, 0.01),
            },
            output=("LATENT",),
            category="sampling",
        ),
        _node(
            "KSamplerAdvanced",
            {
                "model": ["MODEL", {}],
                "add_noise": [["enable", "disable"], {}],
                "noise_seed": seed,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": sampler_name,
                "scheduler": scheduler,
                "positive": ["CONDITIONING", {}],
                "negative": ["CONDITIONING", {}],
                "latent_image": ["LATENT", {}],
                "start_at_step": _int(0, 0, 10000),
                "end_at_step": _int(10000, 0, 10000),
                "return_with_leftover_noise": [["disable", "enable"], {}],
            },
            output=("LATENT",),
            category="sampling",
        ),
        _node("VAEDecode", {"samples": ["LATENT", {}], "vae": ["VAE", {}]}, output=("IMAGE",), category="latent"),
        _node("VAEEncode", {"pixels": ["IMAGE", {}], "vae": ["VAE", {}]}, output=("LATENT",), category="latent"),
        _node(
            "SaveImage",
            {"images": ["IMAGE", {"tooltip": "The images to save."}], "filename_prefix": prefix},
            hidden=save_hidden,
            output_node=True,
            category="image",
            display_name="Save Image",
        ),
        _node("PreviewImage", {"images": ["IMAGE", {}]}, hidden=save_hidden, output_node=True, category="image"),
        _node(
            "LoadImage",
            {"image": [sorted(input_files), {"image_upload": True}]},
            output=("IMAGE", "MASK"),
            category="image",
            display_name="Load Image",
        ),
        _node(
            "EmptyImage",
            {
                "width": _int(512, 1, 16384, 1),
                "height": _int(512, 1, 16384, 1),
                "batch_size": _int(1, 1, 4096),
                "color": _int(0, 0, 16777215, 1, display="color"),
            },
            output=("IMAGE",),
            category="image",
        ),
        _node(
            "ImageScale",
            {
                "image": image,
                "upscale_method": [list(UPSCALE_METHODS), {}],
                "width": _int(512, 0, 16384, 1),
                "height": _int(512, 0, 16384, 1),
                "crop": [["disabled", "center"], {}],
            },
            output=("IMAGE",),
            category="image/upscaling",
        ),
        _node("ImageInvert", {"image": image}, output=("IMAGE",), category="image"),
        _node(
            "ImageBlur",
            {"image": image, "blur_radius": _int(1, 1, 31, 1), "sigma": _float(1.0, 0.1, 10.0, 0.1)},
            output=("IMAGE",),
            category="image/postprocessing",
            module="comfy_extras.nodes_post_processing",
        ),
        _node("ImageBatch", {"image1": image, "image2": image}, output=("IMAGE",), category="image"),
        _node(
            "ImageCompositeMasked",
            {
                "destination": image,
                "source": image,
                "x": _int(0, 0, 16384, 1),
                "y": _int(0, 0, 16384, 1),
                "resize_source": ["BOOLEAN", {"default": False}],
            },
            optional={"mask": ["MASK", {}]},
            output=("IMAGE",),
            category="image",
        ),
        _node(
            "ImageSharpen",
            {
                "image": image,
                "sharpen_radius": _int(1, 1, 31, 1),
                "sigma": _float(1.0, 0.1, 10.0, 0.01),
                "alpha": _float(1.0, 0.0, 5.0, 0.01),
            },
            output=("IMAGE",),
            category="image/postprocessing",
            module="comfy_extras.nodes_post_processing",
        ),
        _node(
            "UpscaleModelLoader",
            {"model_name": [list(UPSCALE_MODELS), {}]},
            output=("UPSCALE_MODEL",),
            category="loaders",
            module="comfy_extras.nodes_upscale_model",
        ),
        _node(
            "ImageUpscaleWithModel",
            {"upscale_model": ["UPSCALE_MODEL", {}], "image": image},
            output=("IMAGE",),
            category="image/upscaling",
            module="comfy_extras.nodes_upscale_model",
        ),
        _node(
            "SaveAnimatedWEBP",
            {
                "images": image,
                "filename_prefix": prefix,
                "fps": _float(6.0, 0.01, 1000.0, 0.01),
                "lossless": ["BOOLEAN", {"default": True}],
                "quality": _int(80, 0, 100),
                "method": [["default", "fastest", "slowest"], {}],
            },
            hidden=save_hidden,
            output_node=True,
            category="image/animation",
        ),
        _node(
            "SaveAnimatedPNG",
            {
                "images": image,
                "filename_prefix": prefix,
                "fps": _float(6.0, 0.01, 1000.0, 0.01),
                "compress_level": _int(4, 0, 9),
            },
            hidden=save_hidden,
            output_node=True,
            category="image/animation",
        ),
        _node(
            "CreateVideo",
            {
                "images": ["IMAGE", {"tooltip": "The images to create a video from."}],
                "fps": _float(30.0, 1.0, 120.0, 1.0),
            },
            optional={"audio": ["AUDIO", {"optional": True}]},
            output=("VIDEO",),
            category="image/video",
            module="comfy_extras.nodes_video",
        ),
        _node(
            "SaveVideo",
            {
                "video": ["VIDEO", {"tooltip": "The video to save."}],
                "filename_prefix": ["STRING", {"default": "video/ComfyUI"}],
                "format": ["COMBO", {"options": ["auto", "mp4"], "default": "auto"}],
                "codec": ["COMBO", {"options": ["auto", "h264"], "default": "auto"}],
            },
            hidden=save_hidden,
            output_node=True,
            category="image/video",
            module="comfy_extras.nodes_video",
        ),
        _node(
            "SaveWEBM",
            {
                "images": image,
                "filename_prefix": prefix,
                "codec": [["vp9", "av1"], {}],
                "fps": _float(24.0, 0.01, 1000.0, 0.01),
                "crf": _float(32.0, 0, 63.0, 1),
            },
            hidden=save_hidden,
            output_node=True,
            category="image/video",
            module="comfy_extras.nodes_video",
        ),
        _node(
            "SVD_img2vid_Conditioning",
            {
                "clip_vision": ["CLIP_VISION", {}],
                "init_image": image,
                "vae": ["VAE", {}],
                "width": _int(1024, 16, 16384, 8),
                "height": _int(576, 16, 16384, 8),
                "video_frames": _int(14, 1, 4096),
                "motion_bucket_id": _int(127, 1, 1023),
                "fps": _int(6, 1, 1024),
                "augmentation_level": _float(0.0, 0.0, 10.0, 0.01),
            },
            output=("CONDITIONING", "CONDITIONING", "LATENT"),
            output_name=("positive", "negative", "latent"),
            category="conditioning/video_models",
            module="comfy_extras.nodes_video_model",
        ),
        _node(
            "VideoLinearCFGGuidance",
            {"model": ["MODEL", {}], "min_cfg": _float(1.0, 0.0, 100.0, 0.5, round=0.01)},
            output=("MODEL",),
            category="sampling/video_models",
            module="comfy_extras.nodes_video_model",
        ),
        _node(
            "SaveImageWebsocket",
            {"images": image},
            output_node=True,
            category="api node/image/websocket",
            module="custom_nodes.websocket_image_save",
        ),
        _node(
            "VHS_VideoCombine",
            {
                "images": image,
                "frame_rate": ["FLOAT", {"default": 8, "min": 1, "step": 1}],
                "loop_count": _int(0, 0, 100, 1),
                "filename_prefix": ["STRING", {"default": "AnimateDiff"}],
                "format": [list(VHS_FORMATS), {}],
                "pingpong": ["BOOLEAN", {"default": False}],
                "save_output": ["BOOLEAN", {"default": True}],
            },
            output=("VHS_FILENAMES",),
            output_name=("Filenames",),
            output_node=True,
            category="Video Helper Suite 🎥🅥🅗🅢",
            module="custom_nodes.comfyui-videohelpersuite",
            display_name="Video Combine 🎥🅥🅗🅢",
        ),
    ]
    return {node["name"]: node for node in nodes}


def validate_prompt(prompt: dict, definitions: dict, input_files: set[str]):
    """-> (ok, error, good_outputs, node_errors), like ComfyUI's execution.validate_prompt."""
    outputs = []
    for node_id, node in prompt.items():
        if "class_type" not in node:  # a non-dict node raises here, and ComfyUI answers 500
            return (
                False,
                _prompt_error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                ),
                [],
                {},
            )
        definition = definitions.get(node["class_type"])
        if definition is None:
            message = f"Cannot execute because node {node['class_type']} does not exist."
            return False, _prompt_error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
        if definition["output_node"]:
            outputs.append(node_id)
    if not outputs:
        return False, _prompt_error("prompt_no_outputs", "Prompt has no outputs", ""), [], {}

    good, errors, node_errors, validated = [], [], {}, {}
    for output in sorted(outputs, key=_node_order):
        try:
            valid, reasons = _validate_inputs(prompt, output, validated, definitions, input_files)
        except Exception as exc:  # ComfyUI reports any exception while validating an output this way
            reasons = [_exception_error("exception_during_validation", "Exception when validating node", exc)]
            valid = False
            validated[output] = (False, reasons)
        if valid:
            good.append(output)
            continue
        if reasons:
            errors.append((output, reasons))
        for node_id, (ok, node_reasons) in validated.items():
            if not ok and node_reasons:
                class_type = prompt[node_id]["class_type"]
                entry = node_errors.setdefault(
                    node_id, {"errors": node_reasons, "dependent_outputs": [], "class_type": class_type}
                )
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{error['message']}: {error['details']}" for _, reasons in errors for error in reasons)
        error = _prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return False, error, [], node_errors
    return True, None, good, node_errors


def _validate_inputs(prompt, unique_id, validated, definitions, input_files):
    if unique_id in validated:
        return validated[unique_id]
    node = prompt[unique_id]
    class_type = node["class_type"]
    inputs = node.setdefault("inputs", {})
    definition = definitions[class_type]
    required = definition["input"].get("required", {})
    specs = {**required, **definition["input"].get("optional", {})}
    errors, valid = [], True
    for name, spec in specs.items():
        if name not in inputs:
            if name in required:
                errors.append(
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": name,
                        "extra_info": {"input_name": name},
                    }
                )
            continue
        value = inputs[name]
        input_type = spec[0]
        extra = spec[1] if len(spec) > 1 else {}
        if isinstance(value, list):
            if len(value) != 2:
                errors.append(
                    {
                        "type": "bad_linked_input",
                        "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        "details": name,
                        "extra_info": {"input_name": name, "input_config": spec, "received_value": value},
                    }
                )
                continue
            linked_id = value[0]
            linked_class = prompt[linked_id]["class_type"]  # KeyError for a missing node, as in ComfyUI
            received_type = definitions[linked_class]["output"][value[1]]
            if not _types_match(received_type, input_type):
                details = f"{name}, received_type({received_type}) mismatch input_type({input_type})"
                errors.append(
                    {
                        "type": "return_type_mismatch",
                        "message": "Return type mismatch between linked nodes",
                        "details": details,
                        "extra_info": {
                            "input_name": name,
                            "input_config": spec,
                            "received_type": received_type,
                            "linked_node": value,
                        },
                    }
                )
                continue
            try:
                ok, _ = _validate_inputs(prompt, linked_id, validated, definitions, input_files)
                if not ok:
                    valid = False
            except Exception as exc:
                valid = False
                validated[linked_id] = (
                    False,
                    [
                        _exception_error(
                            "exception_during_inner_validation", "Exception when validating inner node", exc
                        )
                    ],
                )
            continue

        converter = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
        if converter is not None:
            try:
                value = converter(value)
                inputs[name] = value
            except (ValueError, TypeError) as exc:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{name}, {value}, {exc}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": spec,
                            "received_value": value,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue
            if "min" in extra and value < extra["min"]:
                errors.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": f"Value {value} smaller than min of {extra['min']}",
                        "details": name,
                        "extra_info": {"input_name": name, "input_config": spec, "received_value": value},
                    }
                )
                continue
            if "max" in extra and value > extra["max"]:
                errors.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": f"Value {value} bigger than max of {extra['max']}",
                        "details": name,
                        "extra_info": {"input_name": name, "input_config": spec, "received_value": value},
                    }
                )
                continue
        if (class_type, name) in CUSTOM_VALIDATED:
            if value not in input_files:
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"{name} - Invalid image file: {value}",
                        "extra_info": {"input_name": name},
                    }
                )
            continue
        if isinstance(input_type, list) or input_type == "COMBO":
            options = input_type if isinstance(input_type, list) else extra.get("options", [])
            if value not in options:
                input_config, list_info = spec, str(options)
                if len(options) > 20:
                    input_config, list_info = None, f"(list of length {len(options)})"
                errors.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{name}: '{value}' not in {list_info}",
                        "extra_info": {"input_name": name, "input_config": input_config, "received_value": value},
                    }
                )
    result = (False, errors) if errors or not valid else (True, [])
    validated[unique_id] = result
    return result


def _types_match(received, expected) -> bool:
    if isinstance(expected, list):
        return received == "COMBO"
    if received == expected or "*" in (received, expected):
        return True
    return bool(set(str(received).split(",")) & set(str(expected).split(",")))


def _prompt_error(kind: str, message: str, details: str) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _exception_error(kind: str, message: str, exc: Exception) -> dict:
    return {
        "type": kind,
        "message": message,
        "details": str(exc),
        "extra_info": {"exception_type": type(exc).__name__, "traceback": traceback.format_tb(exc.__traceback__)},
    }


def _node_order(node_id: str):
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))
