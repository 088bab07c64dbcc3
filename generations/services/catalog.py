"""What a ComfyUI server can run (checkpoints, samplers, schedulers, node types), from /object_info.

Cached briefly in Django's cache: pages and Pixel's prompt building read it often, and
/object_info on a server with many custom nodes is several MB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from generations.clients.comfyui import ComfyUIClient, combo_options
from studio.errors import EngineError

CACHE_SECONDS = 60
# Short, so the studio notices soon after ComfyUI is started.
UNAVAILABLE_CACHE_SECONDS = 5
# The catalog is read while rendering pages: never wait long for it.
FETCH_TIMEOUT = 5.0

DEFAULT_SAMPLERS = [
    "euler",
    "euler_ancestral",
    "heun",
    "dpm_2",
    "dpmpp_2m",
    "dpmpp_2m_sde",
    "dpmpp_sde",
    "ddim",
    "uni_pc",
]
DEFAULT_SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]


@dataclass
class Catalog:
    available: bool
    checkpoints: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    schedulers: list[str] = field(default_factory=list)
    node_types: set[str] = field(default_factory=set)
    error: str = ""
    server: str = ""

    def has_nodes(self, *class_types: str) -> bool:
        return all(class_type in self.node_types for class_type in class_types)


def parse_object_info(object_info: dict, server: str = "") -> Catalog:
    checkpoints = _options(object_info, "CheckpointLoaderSimple", "ckpt_name")
    if checkpoints is None:
        checkpoints = _options(object_info, "ImageOnlyCheckpointLoader", "ckpt_name")
    return Catalog(
        available=True,
        checkpoints=checkpoints or [],
        samplers=_options(object_info, "KSampler", "sampler_name") or list(DEFAULT_SAMPLERS),
        schedulers=_options(object_info, "KSampler", "scheduler") or list(DEFAULT_SCHEDULERS),
        node_types=set(object_info),
        server=server,
    )


def get_catalog(server_url: str | None = None, *, refresh: bool = False) -> Catalog:
    """The catalog of `server_url` (default: the first of COMFYUI_URLS). Never raises."""
    server = (server_url or settings.COMFYUI_URLS[0]).rstrip("/")
    key = cache_key(server)
    if not refresh:
        cached = cache.get(key)
        if isinstance(cached, Catalog):
            return cached
    try:
        with ComfyUIClient(server, timeout=min(settings.COMFYUI_TIMEOUT, FETCH_TIMEOUT)) as client:
            catalog = parse_object_info(client.object_info(), server=server)
    except EngineError as exc:
        catalog = unavailable(server, exc.message)
    except (ValueError, TypeError, AttributeError):
        catalog = unavailable(server, f"ComfyUI at {server} sent an /object_info this studio cannot read")
    cache.set(key, catalog, CACHE_SECONDS if catalog.available else UNAVAILABLE_CACHE_SECONDS)
    return catalog


def unavailable(server: str, error: str) -> Catalog:
    return Catalog(
        available=False,
        samplers=list(DEFAULT_SAMPLERS),
        schedulers=list(DEFAULT_SCHEDULERS),
        error=error,
        server=server,
    )


def cache_key(server_url: str) -> str:
    return f"comfyui-catalog:{server_url.rstrip('/')}"


def clear_cache(server_url: str | None = None) -> None:
    for server in [server_url] if server_url else settings.COMFYUI_URLS:
        cache.delete(cache_key(server))


def _options(object_info: dict, class_type: str, input_name: str) -> list[str] | None:
    node = object_info.get(class_type)
    if not isinstance(node, dict):
        return None
    inputs = node.get("input") or {}
    spec = (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)
    return combo_options(spec)
