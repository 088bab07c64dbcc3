"""What the studio can reach right now: the LLM engines and every ComfyUI server, with fixes.

engine_report() backs `manage.py check_engines`. It mirrors how specialists.services.llm
picks an engine (LLM_BACKEND, "auto" = Ollama, else the OpenAI-compatible server, else
the embedded SmolLM2), so "ok" means the studio will work as configured, not merely that
something answers.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings

from generations.services import families, needs
from generations.services.catalog import Catalog, get_catalog
from specialists.clients import embedded
from specialists.clients.base import ModelInfo, same_model
from specialists.clients.ollama import OllamaClient
from specialists.clients.openai_compat import OpenAICompatClient
from specialists.services.llm import BACKENDS
from studio.errors import EngineError

# Listing models is a small request; an engine that takes longer than this is not usable anyway.
LIST_TIMEOUT = 10.0


def engine_report() -> dict:
    """A JSON-ready report: {"ok", "llm": {...}, "comfyui": [...], "problems": [...], "warnings": [...]}.

    `problems` keep the studio from working as configured (ok is False); `warnings` limit it.
    Each entry says what is wrong and how to fix it. Never raises for engine trouble.
    """
    problems: list[str] = []
    warnings: list[str] = []
    llm = _llm_report(problems, warnings)
    comfyui = [_comfyui_report(url, problems, warnings) for url in settings.COMFYUI_URLS]
    if not comfyui:
        problems.append("no ComfyUI server configured: set COMFYUI_URLS (e.g. http://127.0.0.1:8188)")
    return {"ok": not problems, "llm": llm, "comfyui": comfyui, "problems": problems, "warnings": warnings}


# -- LLM --------------------------------------------------------------------------------------------


def _llm_report(problems: list[str], warnings: list[str]) -> dict:
    backend = (settings.LLM_BACKEND or "auto").strip().lower()
    default_model = settings.LLM_DEFAULT_MODEL
    ollama = _engine_state(OllamaClient(settings.OLLAMA_URL, **_timeouts()))
    openai = None
    if settings.OPENAI_BASE_URL:
        openai = _engine_state(OpenAICompatClient(settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY, **_timeouts()))
    builtin = {
        "enabled": settings.LLM_EMBEDDED_ENABLED,
        "available": embedded.is_available(),
        "model": embedded.MODEL_NAME,
        "path": str(embedded.model_path() or ""),
    }
    if ollama["available"]:
        if not ollama["models"]:
            ollama["error"] = f"Ollama is running but has no models: run `ollama pull {default_model}`"
        elif not any(same_model(default_model, model["name"]) for model in ollama["models"]):
            warnings.append(
                f"the default model {default_model} is not installed in Ollama, so specialists without a model "
                f"of their own use {ollama['models'][0]['name']}: run `ollama pull {default_model}` "
                "or set LLM_DEFAULT_MODEL"
            )

    active = _active_backend(backend, ollama, openai, builtin)
    if backend == "ollama" or (backend == "auto" and active != "openai"):
        if ollama["error"]:
            problems.append(ollama["error"])
    if backend == "openai" and openai is None:
        problems.append("LLM_BACKEND is openai but OPENAI_BASE_URL is not set (e.g. http://127.0.0.1:8080/v1)")
    elif openai and openai["error"]:
        # Under "auto" the OpenAI-compatible server is only a stand-in for Ollama.
        (problems if backend == "openai" else warnings).append(openai["error"])
    if backend == "auto" and active == "openai":
        warnings.append(f"Ollama does not answer at {settings.OLLAMA_URL}; the studio uses {settings.OPENAI_BASE_URL}")
    if backend == "auto" and active == "embedded":
        warnings.append("the studio falls back to the built-in SmolLM2 model: fine for trying the flow, not quality")
    if backend == "embedded" and not builtin["enabled"]:
        problems.append("LLM_BACKEND is embedded but LLM_EMBEDDED_ENABLED is off")
    elif backend == "embedded" and not builtin["available"]:
        problems.append(embedded.INSTALL_HINT)
    if backend not in BACKENDS:
        problems.append(f"LLM_BACKEND must be one of {', '.join(BACKENDS)}; got {settings.LLM_BACKEND!r}")

    return {
        "backend": backend,
        "active": active,
        "default_model": default_model,
        "ollama": {"url": settings.OLLAMA_URL, **ollama},
        "openai": {"url": settings.OPENAI_BASE_URL, **openai} if openai else None,
        "embedded": builtin,
    }


def _active_backend(backend: str, ollama: dict, openai: dict | None, builtin: dict) -> str | None:
    """The engine specialists will actually use, as specialists.services.llm.resolve picks it."""
    if backend != "auto":
        return backend if backend in BACKENDS else None
    if ollama["available"]:
        return "ollama"
    if openai and openai["available"]:
        return "openai"
    if builtin["enabled"] and builtin["available"]:
        return "embedded"
    return None


def _timeouts() -> dict:
    return {"connect_timeout": settings.LLM_CONNECT_TIMEOUT, "read_timeout": LIST_TIMEOUT}


def _engine_state(client: OllamaClient | OpenAICompatClient) -> dict:
    try:
        models = async_to_sync(_list_models)(client)
    except EngineError as exc:
        return {"available": False, "error": exc.message, "models": []}
    return {"available": True, "error": "", "models": [_model_dict(model) for model in models]}


async def _list_models(client: OllamaClient | OpenAICompatClient) -> list[ModelInfo]:
    try:
        return await client.list_models()
    finally:
        await client.aclose()


def _model_dict(model: ModelInfo) -> dict:
    return {"name": model.name, "family": model.family, "parameter_size": model.parameter_size, "size": model.size}


# -- ComfyUI ----------------------------------------------------------------------------------------


def _comfyui_report(url: str, problems: list[str], warnings: list[str]) -> dict:
    catalog: Catalog = get_catalog(url, refresh=True)
    report = {
        "url": url,
        "available": catalog.available,
        "error": catalog.error,
        "checkpoints": list(catalog.checkpoints),
        "video_checkpoints": needs.video_checkpoints(catalog),
        "missing_image_nodes": needs.missing_nodes(catalog, *needs.IMAGE_TEMPLATES),
        "missing_video_nodes": needs.missing_nodes(catalog, *needs.VIDEO_TEMPLATES),
        "families": [_family_dict(found) for found in families.reports(catalog)] if catalog.available else [],
    }
    if not catalog.available:
        problems.append(catalog.error or f"ComfyUI does not answer at {url}: start it, or fix COMFYUI_URLS")
        return report
    if report["missing_image_nodes"]:
        problems.append(
            f"ComfyUI at {url} lacks the image nodes {', '.join(report['missing_image_nodes'])}: "
            "update ComfyUI (git pull; pip install -r requirements.txt)"
        )
    if not catalog.checkpoints:
        problems.append(
            f"ComfyUI at {url} has no checkpoint installed: put a .safetensors file in ComfyUI/models/checkpoints "
            "and restart ComfyUI"
        )
    if report["missing_video_nodes"]:
        warnings.append(
            f"ComfyUI at {url} lacks the video nodes {', '.join(report['missing_video_nodes'])}, so video "
            "generations will fail there: update ComfyUI"
        )
    if not any(family["ready"] for family in report["families"] if family["kind"] == "video"):
        warnings.append(f"ComfyUI at {url}: {needs.VIDEO_MODEL_HINT}")
    return report


def _family_dict(found) -> dict:
    family = found.family
    return {
        "key": family.key,
        "label": family.label,
        "kind": family.kind,
        "ready": found.ready,
        "models": found.models,
        "files": found.files,
        "missing": found.missing,
    }
