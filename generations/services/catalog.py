"""What a ComfyUI server can run (checkpoints, samplers, schedulers, node types), from /object_info.

Cached briefly in Django's cache: pages and Pixel's prompt building read it often, and
/object_info on a server with many custom nodes is several MB.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
    # (node class, input) -> the values ComfyUI accepts there: model files, samplers, modes. Inputs the studio
    # fills by uploading (LoadImage's image) are left out: their file is sent just before the prompt.
    choices: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    error: str = ""
    server: str = ""
    # model file -> family key, as the artist set it in the settings (generations/services/families.for_owner).
    family_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def loras(self) -> list[str]:
        return list(self.choices.get(("LoraLoader", "lora_name")) or [])

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
        choices=_choices(object_info),
        server=server,
    )


def get_catalog(server_url: str | None = None, *, refresh: bool = False) -> Catalog:
    """The catalog of `server_url`; without one, of the whole farm (every server of COMFYUI_URLS: what any of
    them offers, see combined). Never raises."""
    if server_url is None:
        servers = settings.COMFYUI_URLS
        if len(servers) == 1:
            return get_catalog(servers[0], refresh=refresh)
        known = {} if refresh else cache.get_many([cache_key(server) for server in servers])
        catalogs = [known.get(cache_key(server)) for server in servers]
        missing = [
            server for server, catalog in zip(servers, catalogs, strict=True) if not isinstance(catalog, Catalog)
        ]
        if missing:
            # Side by side: each is a request to another machine, and a page or a job waits for all of them.
            with ThreadPoolExecutor(max_workers=len(missing), thread_name_prefix="catalog") as pool:
                fetched = dict(
                    zip(missing, pool.map(lambda each: get_catalog(each, refresh=refresh), missing), strict=True)
                )
            catalogs = [fetched.get(server) or catalog for server, catalog in zip(servers, catalogs, strict=True)]
        return combined(catalogs)
    server = server_url.rstrip("/")
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


def combined(catalogs: list[Catalog]) -> Catalog:
    """What the farm offers: every model, option and node that at least one answering server has. Which server
    can run a given job is placement's question (generations/services/placement.py)."""
    answering = [catalog for catalog in catalogs if catalog.available]
    if not answering:
        return unavailable("", " ".join(catalog.error for catalog in catalogs))
    choices: dict[tuple[str, str], list[str]] = {}
    for catalog in answering:
        for key, options in catalog.choices.items():
            choices[key] = _union([choices.get(key, []), options])
    return Catalog(
        available=True,
        checkpoints=_union([catalog.checkpoints for catalog in answering]),
        samplers=_union([catalog.samplers for catalog in answering]),
        schedulers=_union([catalog.schedulers for catalog in answering]),
        node_types=set().union(*(catalog.node_types for catalog in answering)),
        choices=choices,
    )


def _union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(item for items in lists for item in items))


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


def _choices(object_info: dict) -> dict[tuple[str, str], list[str]]:
    choices = {}
    for class_type, node in object_info.items():
        inputs = node.get("input") if isinstance(node, dict) else None
        for group in ("required", "optional"):
            for input_name, spec in ((inputs or {}).get(group) or {}).items():
                options = combo_options(spec)
                if options is not None and not _uploaded(spec):
                    choices[(class_type, input_name)] = options
    return choices


def _uploaded(spec) -> bool:
    extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return any(key.endswith("upload") and value for key, value in extra.items())


def _options(object_info: dict, class_type: str, input_name: str) -> list[str] | None:
    node = object_info.get(class_type)
    if not isinstance(node, dict):
        return None
    inputs = node.get("input") or {}
    spec = (inputs.get("required") or {}).get(input_name) or (inputs.get("optional") or {}).get(input_name)
    return combo_options(spec)
