import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_prefix(name: str) -> str:
    """A filename prefix ComfyUI cannot turn into a path outside its output folder."""
    cleaned = _UNSAFE.sub("_", name).strip("_")[:60]
    return cleaned or "studio"


def _base(brief: dict, *, checkpoint_node: str = "1") -> dict:
    return {
        checkpoint_node: {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": brief["checkpoint"]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": brief["positive_prompt"], "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": brief["negative_prompt"], "clip": ["1", 1]}},
    }


def _sampler(brief: dict, latent: list, *, model=("1", 0), denoise: float = 1.0, seed_offset: int = 0) -> dict:
    return {
        "class_type": "KSampler",
        "inputs": {
            "model": list(model),
            "positive": ["2", 0],
            "negative": ["3", 0],
            "latent_image": latent,
            "seed": brief["seed"] + seed_offset,
            "steps": brief["steps"],
            "cfg": brief["cfg"],
            "sampler_name": brief["sampler"],
            "scheduler": brief["scheduler"],
            "denoise": denoise,
        },
    }


def txt2img(brief: dict, *, prefix: str = "studio") -> dict:
    graph = _base(brief)
    graph["4"] = {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": brief["width"], "height": brief["height"], "batch_size": 1},
    }
    graph["5"] = _sampler(brief, ["4", 0])
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": safe_prefix(prefix)}}
    return graph


# How much of a reworked picture is drawn again: enough to change it, little enough to keep what it shows.
REWORK_DENOISE = 0.6
# LoadImage's file until the worker has uploaded the picture to the server that runs the job.
UPLOAD_PLACEHOLDER = "pending-upload.png"


def load_scaled(graph: dict, image_name: str, width: int, height: int, *, nodes: tuple[str, str]) -> list:
    """An uploaded picture, scaled and centre-cropped to ``width`` × ``height``; returns the scaled image's link."""
    load, scale = nodes
    graph[load] = {"class_type": "LoadImage", "inputs": {"image": image_name}}
    graph[scale] = {
        "class_type": "ImageScale",
        "inputs": {"image": [load, 0], "upscale_method": "lanczos", "width": width, "height": height, "crop": "center"},
    }
    return [scale, 0]


def img2img(brief: dict, image_name: str, *, denoise: float = REWORK_DENOISE, prefix: str = "studio") -> dict:
    """Start from an uploaded image (a previous output) instead of noise."""
    graph = _base(brief)
    load_scaled(graph, image_name, brief["width"], brief["height"], nodes=("4", "8"))
    graph["9"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["1", 2]}}
    graph["5"] = _sampler(brief, ["9", 0], denoise=max(0.05, min(1.0, denoise)))
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": safe_prefix(prefix)}}
    return graph


def img2video(brief: dict, *, video_checkpoint: str | None = None, prefix: str = "studio") -> dict:
    """Text to a key frame, then Stable Video Diffusion animates it; saved as MP4 and animated WEBP."""
    graph = txt2img(brief, prefix=f"{prefix}_keyframe")
    del graph["7"]  # the key frame is an intermediate, not an output
    width, height = brief["width"], brief["height"]
    fps = brief.get("fps", 8)
    graph["10"] = {
        "class_type": "ImageOnlyCheckpointLoader",
        "inputs": {"ckpt_name": video_checkpoint or brief["checkpoint"]},
    }
    graph["11"] = {
        "class_type": "SVD_img2vid_Conditioning",
        "inputs": {
            "clip_vision": ["10", 1],
            "init_image": ["6", 0],
            "vae": ["10", 2],
            "width": width,
            "height": height,
            "video_frames": brief.get("frames", 14),
            "motion_bucket_id": 127,
            "fps": fps,
            "augmentation_level": 0.0,
        },
    }
    graph["12"] = {"class_type": "VideoLinearCFGGuidance", "inputs": {"model": ["10", 0], "min_cfg": 1.0}}
    graph["13"] = {
        "class_type": "KSampler",
        "inputs": {
            "model": ["12", 0],
            "positive": ["11", 0],
            "negative": ["11", 1],
            "latent_image": ["11", 2],
            "seed": brief["seed"],
            "steps": max(1, min(brief["steps"], 40)),
            "cfg": min(brief["cfg"], 4.0),
            "sampler_name": brief["sampler"],
            "scheduler": brief["scheduler"],
            "denoise": 1.0,
        },
    }
    graph["14"] = {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 2]}}
    save_video(graph, ["14", 0], fps, prefix, nodes=("15", "16"))
    return graph


def add_loras(graph: dict, loras: list[dict], model: list, clip: list | None = None, *, first_node: int = 30) -> None:
    """LoRA loaders chained between the model (and its text encoder, when given) and every node that used them.

    ``loras``: [{"name", "strength"}]; without ``clip`` each adjusts the model only (video models' LoRAs)."""
    if not loras:
        return
    users = [
        (node["inputs"], name, value)
        for node in graph.values()
        for name, value in node["inputs"].items()
        if value == model or (clip is not None and value == clip)
    ]
    model_out, clip_out = model, clip
    for offset, lora in enumerate(loras):
        node_id = str(first_node + offset)
        strength = lora["strength"]
        if clip is None:
            inputs = {"model": model_out, "lora_name": lora["name"], "strength_model": strength}
            graph[node_id] = {"class_type": "LoraLoaderModelOnly", "inputs": inputs}
        else:
            inputs = {
                "model": model_out,
                "clip": clip_out,
                "lora_name": lora["name"],
                "strength_model": strength,
                "strength_clip": strength,
            }
            graph[node_id] = {"class_type": "LoraLoader", "inputs": inputs}
            clip_out = [node_id, 1]
        model_out = [node_id, 0]
    for inputs, name, value in users:
        inputs[name] = model_out if value == model else clip_out


def save_video(graph: dict, images: list, fps: int, prefix: str, *, nodes: tuple[str, str]) -> None:
    """Frames to an MP4 (H.264) in ComfyUI's output/video folder."""
    create, save = nodes
    graph[create] = {"class_type": "CreateVideo", "inputs": {"images": images, "fps": float(fps)}}
    graph[save] = {
        "class_type": "SaveVideo",
        "inputs": {
            "video": [create, 0],
            "filename_prefix": f"video/{safe_prefix(prefix)}",
            "format": "mp4",
            "codec": "h264",
        },
    }
