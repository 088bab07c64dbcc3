"""One GPU shared by ComfyUI and the language model, the most common set-up of people who run both.

Before a job goes to a ComfyUI that shares the GPU, the studio lets the LLM's models go (gpu_wanted); before
the team's next turn after it, it asks that ComfyUI to free its models (free_held). Which servers share:
COMFYUI_SHARES_GPU, "auto" (those on the same host as the LLM engine), "all", "none" or a list of URLs.
"""

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache

from generations.clients.comfyui import ComfyUIClient
from studio.env import is_loopback_host
from studio.errors import EngineError

log = logging.getLogger(__name__)

HELD_KEY = "gpu-held:{server}"


def _host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return "loopback" if host and is_loopback_host(host) else host


def shares_gpu(server: str) -> bool:
    choice = settings.COMFYUI_SHARES_GPU.strip()
    if choice == "none":
        return False
    if choice == "all":
        return True
    if choice == "auto":
        engines = [settings.OLLAMA_URL, settings.OPENAI_BASE_URL]
        return _host(server) in {_host(url) for url in engines if url}
    listed = {url.strip().rstrip("/") for url in choice.split(",") if url.strip()}
    return server.rstrip("/") in listed


def mark_held(server: str) -> None:
    """ComfyUI has (or is about to have) models on the shared GPU."""
    cache.set(HELD_KEY.format(server=server), True, None)


def free_held() -> list[str]:
    """Ask every sharing ComfyUI that ran a job since it was last asked to free its models; the servers that
    did. One that cannot be reached is left marked, and the team goes on."""
    freed = []
    for server in settings.COMFYUI_URLS:
        key = HELD_KEY.format(server=server)
        if not shares_gpu(server) or not cache.get(key):
            continue
        try:
            with ComfyUIClient(server) as client:
                client.free()
        except EngineError as exc:
            log.warning("could not ask ComfyUI at %s to free the GPU: %s", server, exc)
            continue
        cache.delete(key)
        freed.append(server)
    return freed
