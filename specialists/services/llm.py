"""Choosing the LLM engine and model for a specialist.

settings.LLM_BACKEND picks the engine: "ollama", "openai" (OPENAI_BASE_URL), "embedded"
(the built-in SmolLM2) or "auto": Ollama when it answers, else the OpenAI-compatible
server when one is configured and answers, else the built-in model when enabled.
An explicitly assigned Ollama model is never swapped for another one silently.
"""

from __future__ import annotations

import asyncio
import time
import weakref

from django.conf import settings

from specialists.clients.base import Capabilities, LLMClient, ModelInfo, same_model
from specialists.clients.embedded import MODEL_NAME as EMBEDDED_MODEL
from specialists.clients.embedded import EmbeddedClient
from specialists.clients.embedded import is_available as embedded_available
from specialists.clients.ollama import OllamaClient, unreachable_message
from specialists.clients.openai_compat import OpenAICompatClient, reset_dialects
from studio.errors import EngineError, PermanentError, TransientError

BACKENDS = ("auto", "ollama", "openai", "embedded")
PING_CACHE_SECONDS = 5.0
PING_TIMEOUT = 1.0
# What a model can do changes only when it is replaced (a new pull under the same name).
CAPABILITIES_CACHE_SECONDS = 300.0

# httpx connection pools belong to the event loop that opened them, so clients are kept per loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, LLMClient]] = weakref.WeakKeyDictionary()
_pings: dict[tuple[str, str], tuple[float, bool]] = {}
_capabilities: dict[tuple[str, str, str], tuple[float, Capabilities]] = {}
_embedded = EmbeddedClient()


def reset_clients() -> None:
    """Forget every client, cached ping answer, capability and learnt dialect (tests switch engines)."""
    _clients.clear()
    _pings.clear()
    _capabilities.clear()
    reset_dialects()


async def capabilities(client: LLMClient, model: str) -> Capabilities:
    """What the engine says the model can do, cached per engine and model; a plain text model when the
    engine cannot be asked (the reply itself will say what is wrong)."""
    key = (client.backend, getattr(client, "base_url", ""), model)
    cached = _capabilities.get(key)
    if cached and time.monotonic() - cached[0] < CAPABILITIES_CACHE_SECONDS:
        return cached[1]
    try:
        found = await client.capabilities(model)
    except EngineError:
        return Capabilities(known=False)
    _capabilities[key] = (time.monotonic(), found)
    return found


def forget_pings() -> None:
    """Ask the engines afresh next time (the artist pressed "Try again": a cached "down" must not answer)."""
    _pings.clear()


def _cached(key: tuple, factory) -> LLMClient:
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = factory()
    return per_loop[key]


def ollama_client() -> OllamaClient:
    url = settings.OLLAMA_URL.rstrip("/")
    timeouts = _timeouts()
    return _cached(("ollama", url, *timeouts.values()), lambda: OllamaClient(url, **timeouts))


def new_ollama_client() -> OllamaClient:
    """An Ollama client of its own, for work outside the serving loop (a worker, a download thread): the
    caller closes it."""
    return OllamaClient(settings.OLLAMA_URL.rstrip("/"), **_timeouts())


def openai_client() -> OpenAICompatClient | None:
    url = (settings.OPENAI_BASE_URL or "").rstrip("/")
    if not url:
        return None
    key, timeouts = settings.OPENAI_API_KEY, _timeouts()
    return _cached(("openai", url, key, *timeouts.values()), lambda: OpenAICompatClient(url, key, **timeouts))


def _timeouts() -> dict:
    return {
        "connect_timeout": settings.LLM_CONNECT_TIMEOUT,
        "read_timeout": settings.LLM_READ_TIMEOUT,
        "first_token_timeout": settings.LLM_FIRST_TOKEN_TIMEOUT,
    }


def embedded_client() -> EmbeddedClient:
    return _embedded


async def _answers(client: OllamaClient | OpenAICompatClient) -> bool:
    """Ping, remembering the answer for a few seconds so every speaker does not wait on a dead engine."""
    key = (client.backend, client.base_url)
    now = time.monotonic()
    cached = _pings.get(key)
    if cached and now - cached[0] < PING_CACHE_SECONDS:
        return cached[1]
    up = await client.ping(timeout=min(PING_TIMEOUT, settings.LLM_CONNECT_TIMEOUT))
    _pings[key] = (time.monotonic(), up)
    return up


def _mark_down(client: OllamaClient | OpenAICompatClient) -> None:
    _pings[(client.backend, client.base_url)] = (time.monotonic(), False)


def _unreachable(url: str) -> str:
    return unreachable_message(url)


def _pick(model: str | None, installed: list[ModelInfo], *, strict: bool, pull_hint: bool) -> str:
    names = [m.name for m in installed]
    if model:
        match = next((name for name in names if same_model(model, name)), None)
        if match:
            return model
        if strict:
            if pull_hint:
                raise PermanentError(
                    f"model {model} is not installed in Ollama: run `ollama pull {model}`", detail={"model": model}
                )
            raise PermanentError(
                f"model {model} is not available on the model server; it offers: {', '.join(names)}",
                detail={"model": model},
            )
    default = settings.LLM_DEFAULT_MODEL
    if default and any(same_model(default, name) for name in names):
        return default
    return names[0]


async def _resolve_ollama(client: OllamaClient, model: str | None) -> tuple[LLMClient, str]:
    installed = await client.list_models()
    if not installed:
        raise PermanentError(f"Ollama is running but has no models: run `ollama pull {_pull_suggestion()}`")
    return client, _pick(model, installed, strict=True, pull_hint=True)


async def _resolve_openai(client: OpenAICompatClient, model: str | None, *, strict: bool) -> tuple[LLMClient, str]:
    installed = await client.list_models()
    if not installed:
        # Some servers (llama.cpp) serve one model and do not care about its name.
        return client, model or settings.LLM_DEFAULT_MODEL
    return client, _pick(model, installed, strict=strict, pull_hint=False)


def _pull_suggestion() -> str:
    return settings.LLM_DEFAULT_MODEL or "llama3.2"


def built_in_model_notice() -> str:
    """Said once in a conversation the built-in model speaks in: what it is, and how to get better answers."""
    return (
        "The team is speaking through the built-in model (SmolLM2-135M): quick, but small, so its ideas are thin "
        "and its replies short. For a real creative team, install Ollama (ollama.com), run "
        f"`ollama pull {_pull_suggestion()}` and choose that model in Settings."
    )


def _backend() -> str:
    backend = (settings.LLM_BACKEND or "auto").strip().lower()
    if backend not in BACKENDS:
        raise PermanentError(f"LLM_BACKEND must be one of {', '.join(BACKENDS)}; got {settings.LLM_BACKEND!r}")
    return backend


async def resolve(model: str | None) -> tuple[LLMClient, str]:
    """The client to use and the effective model name; raises TransientError/PermanentError."""
    model = (model or "").strip() or None
    backend = _backend()
    if backend == "ollama":
        return await _resolve_ollama(ollama_client(), model)
    if backend == "openai":
        client = openai_client()
        if client is None:
            raise PermanentError(
                "LLM_BACKEND is openai but OPENAI_BASE_URL is not set (e.g. http://127.0.0.1:8080/v1)."
            )
        return await _resolve_openai(client, model, strict=True)
    if backend == "embedded":
        return embedded_client(), EMBEDDED_MODEL

    ollama = ollama_client()
    if await _answers(ollama):
        try:
            return await _resolve_ollama(ollama, model)
        except TransientError:
            if await ollama.ping(timeout=PING_TIMEOUT):
                raise
            _mark_down(ollama)  # it went away since the last ping: fall back below
    fallback = await _fallback()
    if fallback is None:
        raise TransientError(_unreachable(ollama.base_url))
    if isinstance(fallback, OpenAICompatClient):
        # The assignment was made for Ollama; on the stand-in server any of its models will do.
        return await _resolve_openai(fallback, model, strict=False)
    return fallback, EMBEDDED_MODEL


async def _fallback() -> LLMClient | None:
    openai = openai_client()
    if openai is not None and await _answers(openai):
        return openai
    if settings.LLM_EMBEDDED_ENABLED and embedded_available():
        return embedded_client()
    return None


def default_model(installed: list[ModelInfo]) -> str | None:
    """The model a specialist with no model of its own speaks through, among ``installed``."""
    return _pick(None, installed, strict=False, pull_hint=False) if installed else None


async def list_models() -> tuple[list[ModelInfo], str | None]:
    """Models of the active engine, each with its capabilities, and, when the studio is not on Ollama as
    expected, a notice saying why."""
    models, notice, client = await _models_and_client()
    if client is not None and models:
        found = await asyncio.gather(*(capabilities(client, m.name) for m in models))
        for model, caps in zip(models, found, strict=True):
            model.capabilities = caps
    return models, notice


async def _models_and_client() -> tuple[list[ModelInfo], str | None, LLMClient | None]:
    try:
        backend = _backend()
    except PermanentError as exc:
        return [], exc.message, None
    try:
        if backend == "ollama":
            return (*await _ollama_models(ollama_client()), ollama_client())
        if backend == "openai":
            client = openai_client()
            if client is None:
                return [], "LLM_BACKEND is openai but OPENAI_BASE_URL is not set.", None
            return await client.list_models(), None, client
        if backend == "embedded":
            return await embedded_client().list_models(), None, embedded_client()

        ollama = ollama_client()
        if await _answers(ollama):
            try:
                return (*await _ollama_models(ollama), ollama)
            except TransientError:
                _mark_down(ollama)
        down = unreachable_message(ollama.base_url)
        fallback = await _fallback()
        if isinstance(fallback, OpenAICompatClient):
            models = await fallback.list_models()
            notice = f"{down} Meanwhile the studio is using the OpenAI-compatible server at {fallback.base_url}."
            return models, notice, fallback
        if isinstance(fallback, EmbeddedClient):
            return (
                await fallback.list_models(),
                f"{down} Meanwhile the studio is using the built-in SmolLM2 model; Ollama gives much better replies.",
                fallback,
            )
        return [], _unreachable(ollama.base_url), None
    except EngineError as exc:
        return [], exc.message, None


async def _ollama_models(client: OllamaClient) -> tuple[list[ModelInfo], str | None]:
    models = await client.list_models()
    if not models:
        return [], f"Ollama is running but has no models: run `ollama pull {_pull_suggestion()}`"
    return models, None
