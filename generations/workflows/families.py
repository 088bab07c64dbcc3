"""Model families as data: what each needs from a ComfyUI server, how it draws best, and its graph.

A family is recognised from a model file's name and the folder it is in. Its files come from the
dropdowns of the loader nodes (what the server has installed); its defaults are those the model was
trained for and its makers publish (sizes, steps, guidance, sampler); its graph is built as data.
Every graph is checked against a real ComfyUI's /object_info (generations/tests/test_families.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from generations.workflows.builders import UPLOAD_PLACEHOLDER, add_loras, load_scaled, safe_prefix, save_video
from generations.workflows.styles import styled

IMAGE, VIDEO = "image", "video"
# What a family's LoRAs adjust: the model and its text encoder, the model only (video models), or nothing.
LORA_MODEL_AND_CLIP, LORA_MODEL, NO_LORA = "model_and_clip", "model", ""
VIDEO_NODES = ("20", "21")  # CreateVideo, SaveVideo
ASPECTS = ("square", "portrait", "landscape", "wide")


@dataclass(frozen=True)
class FileNeed:
    """One file a family loads: from which folder, through which loader input, recognised by which words.

    ``names``: alternatives, each a tuple of words that must all be in the lower-cased file name ("^ae." must
    start it: Flux's VAE is ae.safetensors, and every other VAE's name ends in "vae.safetensors").
    """

    role: str
    folder: str
    node: str
    input: str
    names: tuple[tuple[str, ...], ...]
    example: str

    def matches(self, file_name: str) -> bool:
        lowered = file_name.lower()
        return any(all(_has(lowered, word) for word in words) for words in self.names)


def _has(name: str, word: str) -> bool:
    return name.startswith(word[1:]) if word.startswith("^") else word in name


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    kind: str
    files: tuple[FileNeed, ...]  # the first is the model the artist chooses; the others follow from the server
    sizes: dict[str, tuple[int, int]]  # aspect -> (width, height) the model was trained near
    size_range: tuple[int, int]  # a side outside this draws badly (SD1.5 at 1024 repeats its subject)
    size_step: int
    steps: int
    cfg: float
    sampler: str
    scheduler: str
    negative: bool = True  # False: the model ignores a negative prompt (Flux, distilled to cfg 1)
    guidance: float | None = None
    frames: int | None = None
    fps: int | None = None
    frame_step: int = 1  # frames must be frame_step * k + 1 (the video latent's time compression)
    needs_image: bool = False  # animates a picture (a key frame) rather than drawing from text
    variants: tuple[tuple[str, dict], ...] = ()  # (word in the model's name, defaults that differ)
    lora: str = LORA_MODEL_AND_CLIP
    build: Callable[..., dict] = field(default=None, repr=False, compare=False)

    @property
    def model(self) -> FileNeed:
        return self.files[0]

    def graph(self, brief: dict, files: dict, **options) -> dict:
        """The family's graph for ``brief`` (its style preset and LoRAs included) with ``files`` (role -> file)."""
        graph = self.build(self, styled(brief), files, **options)
        loras = brief.get("loras") or []
        if loras and self.lora:
            loader = next(key for key, node in graph.items() if node["class_type"] == self.model.node)
            clip = graph["2"]["inputs"]["clip"] if self.lora == LORA_MODEL_AND_CLIP else None
            add_loras(graph, loras, [loader, 0], clip)
        return graph

    def rework_graph(self, brief: dict, files: dict, image: str, *, denoise: float, **options) -> dict:
        """The family's picture graph started from ``image`` instead of noise: the image, scaled to the brief's
        size, is encoded by the family's own VAE and sampled again with part of the noise (``denoise``)."""
        graph = self.graph(brief, files, **options)
        vae = graph["6"]["inputs"]["vae"]
        scaled = load_scaled(graph, image, brief["width"], brief["height"], nodes=("13", "14"))
        graph["4"] = {"class_type": "VAEEncode", "inputs": {"pixels": scaled, "vae": vae}}
        graph["5"]["inputs"]["denoise"] = denoise
        return graph

    def defaults_for(self, model_name: str) -> dict:
        defaults = {"steps": self.steps, "cfg": self.cfg, "sampler": self.sampler, "scheduler": self.scheduler}
        if self.guidance is not None:
            defaults["guidance"] = self.guidance
        if self.frames is not None:
            defaults.update(frames=self.frames, fps=self.fps)
        for word, overrides in self.variants:
            if word in model_name.lower():
                defaults.update(overrides)
        return defaults

    def fits(self, width: int, height: int) -> bool:
        low, high = self.size_range
        return low <= width <= high and low <= height <= high

    def nearest_size(self, width: int, height: int) -> tuple[str, tuple[int, int]]:
        """The trained size closest in shape to ``width`` × ``height``."""
        ratio = width / max(1, height)
        return min(self.sizes.items(), key=lambda item: abs(item[1][0] / item[1][1] - ratio))

    def video_frames(self, frames: int) -> int:
        """The nearest frame count this family's latent accepts (frame_step * k + 1)."""
        if self.frame_step <= 1:
            return max(1, frames)
        return max(0, round((frames - 1) / self.frame_step)) * self.frame_step + 1


# -- the files ---------------------------------------------------------------------------------------------
def _checkpoint(names, example, node="CheckpointLoaderSimple") -> FileNeed:
    return FileNeed("model", "checkpoints", node, "ckpt_name", names, example)


def _unet(names, example) -> FileNeed:
    return FileNeed("model", "diffusion_models", "UNETLoader", "unet_name", names, example)


T5_FOR_FLUX = FileNeed(
    "t5", "text_encoders", "DualCLIPLoader", "clip_name1", (("t5xxl",),), "t5xxl_fp8_e4m3fn.safetensors"
)
CLIP_L_FOR_FLUX = FileNeed(
    "clip_l", "text_encoders", "DualCLIPLoader", "clip_name2", (("clip_l",),), "clip_l.safetensors"
)
FLUX_VAE = FileNeed("vae", "vae", "VAELoader", "vae_name", (("^ae.",), ("flux",)), "ae.safetensors")
UMT5 = FileNeed(
    "text_encoder", "text_encoders", "CLIPLoader", "clip_name", (("umt5",),), "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
)
WAN_VAE = FileNeed("vae", "vae", "VAELoader", "vae_name", (("wan",),), "wan_2.1_vae.safetensors")
CLIP_VISION_H = FileNeed(
    "clip_vision", "clip_vision", "CLIPVisionLoader", "clip_name", (("clip_vision_h",),), "clip_vision_h.safetensors"
)
T5_FOR_LTXV = FileNeed(
    "text_encoder", "text_encoders", "CLIPLoader", "clip_name", (("t5xxl",),), "t5xxl_fp16.safetensors"
)

SD15_NAMES = (
    ("v1-5",),
    ("v1_5",),
    ("sd15",),
    ("sd_15",),
    ("sd-1",),
    ("1.5",),
    ("dreamshaper_8",),
    ("realisticvision",),
    ("deliberate",),
    ("revanimated",),
    ("anything-v",),
    ("majicmix",),
    ("cyberrealistic_v",),
    ("absolutereality",),
    ("epicrealism_",),
    ("meinamix",),
    ("counterfeit",),
)
SDXL_NAMES = (("xl",), ("pony",), ("illustrious",), ("noob",), ("animagine",), ("playground-v2",))
SD35_NAMES = (("sd3.5",), ("sd3_5",), ("sd35",), ("sd3_medium",), ("sd3_large",))


# -- the graphs ---------------------------------------------------------------------------------------------
def _text(graph: dict, node: str, clip: list, text: str) -> list:
    graph[node] = {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": clip}}
    return [node, 0]


def _ksampler(brief: dict, model: list, positive: list, negative: list, latent: list, defaults: dict) -> dict:
    return {
        "class_type": "KSampler",
        "inputs": {
            "model": model,
            "positive": positive,
            "negative": negative,
            "latent_image": latent,
            "seed": brief["seed"],
            "steps": brief.get("steps") or defaults["steps"],
            "cfg": brief.get("cfg") if brief.get("cfg") is not None else defaults["cfg"],
            "sampler_name": brief.get("sampler") or defaults["sampler"],
            "scheduler": brief.get("scheduler") or defaults["scheduler"],
            "denoise": 1.0,
        },
    }


def _save_image(graph: dict, images: list, prefix: str) -> None:
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": images, "filename_prefix": safe_prefix(prefix)}}


def build_checkpoint_image(family: Family, brief: dict, files: dict, *, prefix: str = "studio") -> dict:
    """SD1.5, SDXL and SD3.5 from one checkpoint with its text encoders and VAE inside."""
    defaults = family.defaults_for(files["model"])
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": files["model"]}}}
    positive = _text(graph, "2", ["1", 1], brief["positive_prompt"])
    negative = _text(graph, "3", ["1", 1], brief.get("negative_prompt", "") if family.negative else "")
    latent_class = "EmptySD3LatentImage" if family.size_step == 16 else "EmptyLatentImage"
    graph["4"] = {
        "class_type": latent_class,
        "inputs": {"width": brief["width"], "height": brief["height"], "batch_size": brief.get("batch", 1)},
    }
    graph["5"] = _ksampler(brief, ["1", 0], positive, negative, ["4", 0], defaults)
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    _save_image(graph, ["6", 0], prefix)
    return graph


def build_flux(family: Family, brief: dict, files: dict, *, prefix: str = "studio") -> dict:
    """Flux.1: guidance instead of cfg (the sampler runs at cfg 1 with an empty negative)."""
    defaults = family.defaults_for(files["model"])
    if "t5" in files:  # split: diffusion model, two text encoders and the VAE, each from its own folder
        graph = {
            "1": {"class_type": "UNETLoader", "inputs": {"unet_name": files["model"], "weight_dtype": "default"}},
            "10": {
                "class_type": "DualCLIPLoader",
                "inputs": {"clip_name1": files["t5"], "clip_name2": files["clip_l"], "type": "flux"},
            },
            "11": {"class_type": "VAELoader", "inputs": {"vae_name": files["vae"]}},
        }
        clip, vae = ["10", 0], ["11", 0]
    else:
        graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": files["model"]}}}
        clip, vae = ["1", 1], ["1", 2]
    encoded = _text(graph, "2", clip, brief["positive_prompt"])
    graph["12"] = {
        "class_type": "FluxGuidance",
        "inputs": {"conditioning": encoded, "guidance": brief.get("guidance", defaults["guidance"])},
    }
    graph["3"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": encoded}}
    graph["4"] = {
        "class_type": "EmptySD3LatentImage",
        "inputs": {"width": brief["width"], "height": brief["height"], "batch_size": brief.get("batch", 1)},
    }
    graph["5"] = _ksampler({**brief, "cfg": 1.0}, ["1", 0], ["12", 0], ["3", 0], ["4", 0], defaults)
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": vae}}
    _save_image(graph, ["6", 0], prefix)
    return graph


def build_wan(family: Family, brief: dict, files: dict, *, prefix: str = "studio", image: str | None = None) -> dict:
    """Wan 2.x: text to video, or (with clip_vision and a start image) image to video."""
    defaults = family.defaults_for(files["model"])
    frames = family.video_frames(brief.get("frames") or defaults["frames"])
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": files["model"], "weight_dtype": "default"}},
        "10": {"class_type": "CLIPLoader", "inputs": {"clip_name": files["text_encoder"], "type": "wan"}},
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": files["vae"]}},
        "12": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["1", 0], "shift": 8.0}},
    }
    positive = _text(graph, "2", ["10", 0], brief["positive_prompt"])
    negative = _text(graph, "3", ["10", 0], brief.get("negative_prompt", ""))
    size = {"width": brief["width"], "height": brief["height"], "length": frames, "batch_size": 1}
    if family.needs_image:
        graph["13"] = {"class_type": "LoadImage", "inputs": {"image": image or UPLOAD_PLACEHOLDER}}
        graph["14"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": files["clip_vision"]}}
        graph["15"] = {
            "class_type": "CLIPVisionEncode",
            "inputs": {"clip_vision": ["14", 0], "image": ["13", 0], "crop": "none"},
        }
        graph["4"] = {
            "class_type": "WanImageToVideo",
            "inputs": {
                "positive": positive,
                "negative": negative,
                "vae": ["11", 0],
                "clip_vision_output": ["15", 0],
                "start_image": ["13", 0],
                **size,
            },
        }
        positive, negative, latent = ["4", 0], ["4", 1], ["4", 2]
    else:
        graph["4"] = {"class_type": "EmptyHunyuanLatentVideo", "inputs": size}
        latent = ["4", 0]
    graph["5"] = _ksampler(brief, ["12", 0], positive, negative, latent, defaults)
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["11", 0]}}
    save_video(graph, ["6", 0], brief.get("fps") or defaults["fps"], prefix, nodes=VIDEO_NODES)
    return graph


def build_ltxv(family: Family, brief: dict, files: dict, *, prefix: str = "studio") -> dict:
    """LTX-Video, text to video: its own conditioning (frame rate), latent and sigma schedule."""
    defaults = family.defaults_for(files["model"])
    fps = brief.get("fps") or defaults["fps"]
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": files["model"]}},
        "10": {"class_type": "CLIPLoader", "inputs": {"clip_name": files["text_encoder"], "type": "ltxv"}},
    }
    positive = _text(graph, "2", ["10", 0], brief["positive_prompt"])
    negative = _text(graph, "3", ["10", 0], brief.get("negative_prompt", ""))
    graph["11"] = {
        "class_type": "LTXVConditioning",
        "inputs": {"positive": positive, "negative": negative, "frame_rate": float(fps)},
    }
    graph["4"] = {
        "class_type": "EmptyLTXVLatentVideo",
        "inputs": {
            "width": brief["width"],
            "height": brief["height"],
            "length": family.video_frames(brief.get("frames") or defaults["frames"]),
            "batch_size": 1,
        },
    }
    graph["12"] = {
        "class_type": "LTXVScheduler",
        "inputs": {
            "steps": brief.get("steps") or defaults["steps"],
            "max_shift": 2.05,
            "base_shift": 0.95,
            "stretch": True,
            "terminal": 0.1,
            "latent": ["4", 0],
        },
    }
    graph["13"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": brief.get("sampler") or "euler"}}
    graph["5"] = {
        "class_type": "SamplerCustom",
        "inputs": {
            "model": ["1", 0],
            "add_noise": True,
            "noise_seed": brief["seed"],
            "cfg": brief.get("cfg") if brief.get("cfg") is not None else defaults["cfg"],
            "positive": ["11", 0],
            "negative": ["11", 1],
            "sampler": ["13", 0],
            "sigmas": ["12", 0],
            "latent_image": ["4", 0],
        },
    }
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    save_video(graph, ["6", 0], fps, prefix, nodes=VIDEO_NODES)
    return graph


def build_svd(family: Family, brief: dict, files: dict, *, prefix: str = "studio", image: str | None = None) -> dict:
    """Stable Video Diffusion animates a picture (a key frame, or an uploaded image)."""
    defaults = family.defaults_for(files["model"])
    fps = brief.get("fps") or defaults["fps"]
    graph = {
        "13": {"class_type": "LoadImage", "inputs": {"image": image or UPLOAD_PLACEHOLDER}},
        "10": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": files["model"]}},
        "11": {
            "class_type": "SVD_img2vid_Conditioning",
            "inputs": {
                "clip_vision": ["10", 1],
                "init_image": ["13", 0],
                "vae": ["10", 2],
                "width": brief["width"],
                "height": brief["height"],
                "video_frames": brief.get("frames") or defaults["frames"],
                "motion_bucket_id": 127,
                "fps": fps,
                "augmentation_level": 0.0,
            },
        },
        "12": {"class_type": "VideoLinearCFGGuidance", "inputs": {"model": ["10", 0], "min_cfg": 1.0}},
    }
    graph["5"] = _ksampler(brief, ["12", 0], ["11", 0], ["11", 1], ["11", 2], defaults)
    graph["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["10", 2]}}
    save_video(graph, ["6", 0], fps, prefix, nodes=VIDEO_NODES)
    return graph


_SD_SIZES = {"square": (1024, 1024), "portrait": (832, 1216), "landscape": (1216, 832), "wide": (1344, 768)}
_WAN_SIZES = {"square": (624, 624), "portrait": (480, 832), "landscape": (832, 480), "wide": (832, 480)}

FAMILIES: dict[str, Family] = {
    family.key: family
    for family in (
        Family(
            "sd15",
            "Stable Diffusion 1.5",
            IMAGE,
            (_checkpoint(SD15_NAMES, "v1-5-pruned-emaonly.safetensors"),),
            {"square": (512, 512), "portrait": (512, 768), "landscape": (768, 512), "wide": (896, 512)},
            (256, 896),
            8,
            steps=25,
            cfg=7.0,
            sampler="euler_ancestral",
            scheduler="normal",
            build=build_checkpoint_image,
        ),
        Family(
            "sdxl",
            "SDXL (and Pony, Illustrious)",
            IMAGE,
            (_checkpoint(SDXL_NAMES, "sd_xl_base_1.0.safetensors"),),
            _SD_SIZES,
            (640, 2048),
            8,
            steps=28,
            cfg=6.5,
            sampler="dpmpp_2m",
            scheduler="karras",
            build=build_checkpoint_image,
        ),
        Family(
            "sd35",
            "Stable Diffusion 3.5",
            IMAGE,
            (_checkpoint(SD35_NAMES, "sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors"),),
            _SD_SIZES,
            (512, 2048),
            16,
            steps=30,
            cfg=4.5,
            sampler="dpmpp_2m",
            scheduler="sgm_uniform",
            build=build_checkpoint_image,
        ),
        Family(
            "flux",
            "Flux.1 (one checkpoint)",
            IMAGE,
            (_checkpoint((("flux",),), "flux1-schnell-fp8.safetensors"),),
            _SD_SIZES,
            (512, 2048),
            16,
            steps=20,
            cfg=1.0,
            sampler="euler",
            scheduler="simple",
            negative=False,
            guidance=3.5,
            variants=(("schnell", {"steps": 4}),),
            build=build_flux,
        ),
        Family(
            "flux_split",
            "Flux.1 (diffusion model, text encoders and VAE apart)",
            IMAGE,
            (_unet((("flux",),), "flux1-dev.safetensors"), T5_FOR_FLUX, CLIP_L_FOR_FLUX, FLUX_VAE),
            _SD_SIZES,
            (512, 2048),
            16,
            steps=20,
            cfg=1.0,
            sampler="euler",
            scheduler="simple",
            negative=False,
            guidance=3.5,
            variants=(("schnell", {"steps": 4}),),
            build=build_flux,
        ),
        Family(
            "wan_t2v",
            "Wan 2.x text to video",
            VIDEO,
            (_unet((("wan", "t2v"), ("wan", "ti2v")), "wan2.1_t2v_1.3B_fp16.safetensors"), UMT5, WAN_VAE),
            _WAN_SIZES,
            (320, 1280),
            16,
            steps=30,
            cfg=6.0,
            sampler="uni_pc",
            scheduler="simple",
            frames=33,
            fps=16,
            frame_step=4,
            lora=LORA_MODEL,
            build=build_wan,
        ),
        Family(
            "wan_i2v",
            "Wan 2.x image to video",
            VIDEO,
            (_unet((("wan", "i2v"),), "wan2.1_i2v_480p_14B_fp8_scaled.safetensors"), UMT5, WAN_VAE, CLIP_VISION_H),
            _WAN_SIZES,
            (320, 1280),
            16,
            steps=20,
            cfg=5.0,
            sampler="uni_pc",
            scheduler="simple",
            frames=33,
            fps=16,
            frame_step=4,
            needs_image=True,
            lora=LORA_MODEL,
            build=build_wan,
        ),
        Family(
            "ltxv",
            "LTX-Video",
            VIDEO,
            (_checkpoint((("ltx",),), "ltx-video-2b-v0.9.5.safetensors"), T5_FOR_LTXV),
            {"square": (640, 640), "portrait": (512, 768), "landscape": (768, 512), "wide": (1024, 576)},
            (256, 1280),
            32,
            steps=30,
            cfg=3.0,
            sampler="euler",
            scheduler="simple",
            frames=97,
            fps=24,
            frame_step=8,
            lora=LORA_MODEL,
            build=build_ltxv,
        ),
        Family(
            "svd",
            "Stable Video Diffusion",
            VIDEO,
            (_checkpoint((("svd",), ("img2vid",)), "svd_xt.safetensors", node="ImageOnlyCheckpointLoader"),),
            {"square": (768, 768), "portrait": (576, 1024), "landscape": (1024, 576), "wide": (1024, 576)},
            (512, 1024),
            8,
            steps=20,
            cfg=2.5,
            sampler="euler",
            scheduler="karras",
            negative=False,
            frames=14,
            fps=8,
            needs_image=True,
            variants=(("xt", {"frames": 25}),),
            lora=NO_LORA,
            build=build_svd,
        ),
    )
}

# Which family a model file is, by folder: the first whose model's words are in its name. A checkpoint
# none of them names is taken for SD1.5 (SDXL finetunes nearly all say "XL"); the settings can say otherwise.
RECOGNITION_ORDER = ("svd", "ltxv", "flux", "sd35", "sdxl", "sd15", "wan_t2v", "wan_i2v", "flux_split")
FALLBACK_BY_FOLDER = {"checkpoints": "sd15"}


def recognise(file_name: str, folder: str = "checkpoints") -> Family | None:
    for key in RECOGNITION_ORDER:
        family = FAMILIES[key]
        if family.model.folder == folder and family.model.matches(file_name):
            return family
    fallback = FALLBACK_BY_FOLDER.get(folder)
    return FAMILIES[fallback] if fallback else None
