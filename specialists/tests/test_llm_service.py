"""specialists.services.llm: which engine and model a specialist talks to."""

import pytest

from specialists.clients.embedded import MODEL_NAME as EMBEDDED_MODEL
from specialists.services import llm
from studio.errors import PermanentError, TransientError
from tests.fakes.ollama import FakeOllama

HELLO = [{"role": "user", "content": "hello"}]


async def test_it_uses_ollama_and_its_default_model_when_ollama_answers(fake_ollama):
    client, model = await llm.resolve(None)
    assert (client.backend, client.base_url, model) == ("ollama", fake_ollama.url, "llama3.2")
    chunks = [c async for c in client.stream_chat(model, HELLO)]
    assert chunks[-1].done and fake_ollama.chat_requests()[0]["json"]["model"] == "llama3.2"


async def test_without_the_default_model_it_takes_the_first_installed_one(fake_ollama):
    fake_ollama.models = ["qwen2.5:7b", "gemma3:4b"]
    _, model = await llm.resolve("")
    assert model == "qwen2.5:7b"


async def test_an_explicit_installed_model_is_kept(fake_ollama):
    client, model = await llm.resolve("llava:7b")
    assert (client.backend, model) == ("ollama", "llava:7b")


async def test_an_explicit_missing_model_is_refused_with_the_pull_command(fake_ollama, settings):
    settings.LLM_EMBEDDED_ENABLED = True  # a fallback exists, yet an explicit choice is never swapped
    with pytest.raises(PermanentError) as failed:
        await llm.resolve("mistral-nemo:12b")
    assert "ollama pull mistral-nemo:12b" in failed.value.message


async def test_ollama_without_models_says_what_to_pull(fake_ollama):
    fake_ollama.models = []
    with pytest.raises(PermanentError) as failed:
        await llm.resolve(None)
    assert failed.value.message == "Ollama is running but has no models: run `ollama pull llama3.2`"
    models, notice = await llm.list_models()
    assert models == [] and "ollama pull llama3.2" in notice


async def test_ollama_down_without_a_fallback_is_transient_and_says_how_to_start_it(fake_ollama, settings, dead_url):
    settings.OLLAMA_URL = dead_url
    with pytest.raises(TransientError) as failed:
        await llm.resolve(None)
    assert failed.value.message == (
        f"Ollama is not reachable at {dead_url}. Start it with `ollama serve`, or set OLLAMA_URL."
    )
    models, notice = await llm.list_models()
    assert models == [] and f"not reachable at {dead_url}" in notice


async def test_ollama_down_falls_back_to_the_embedded_model_when_enabled(fake_ollama, settings, dead_url):
    settings.OLLAMA_URL = dead_url
    settings.LLM_EMBEDDED_ENABLED = True
    client, model = await llm.resolve("llama3.2")
    assert (client.backend, model) == ("embedded", EMBEDDED_MODEL)
    models, notice = await llm.list_models()
    assert [m.name for m in models] == [EMBEDDED_MODEL]
    assert f"Ollama is not reachable at {dead_url}" in notice and "built-in SmolLM2" in notice


async def test_ollama_down_falls_back_to_an_openai_compatible_server_first(fake_ollama, settings, dead_url):
    settings.OLLAMA_URL = dead_url
    settings.LLM_EMBEDDED_ENABLED = True
    settings.OPENAI_BASE_URL = fake_ollama.openai_url
    client, model = await llm.resolve("an-ollama-only-model")
    assert (client.backend, model) == ("openai", "llama3.2")
    chunks = [c async for c in client.stream_chat(model, HELLO)]
    assert chunks[-1].done
    assert [r["path"] for r in fake_ollama.chat_requests()] == ["/v1/chat/completions"]
    _, notice = await llm.list_models()
    assert f"OpenAI-compatible server at {fake_ollama.openai_url}" in notice


async def test_an_ollama_that_goes_away_is_noticed_and_a_fallback_is_used(fake_ollama, settings):
    with FakeOllama() as short_lived:
        settings.OLLAMA_URL = short_lived.url
        settings.LLM_EMBEDDED_ENABLED = True
        client, _ = await llm.resolve(None)
        assert client.backend == "ollama"
    client, model = await llm.resolve(None)  # within the ping cache window, Ollama was last seen up
    assert (client.backend, model) == ("embedded", EMBEDDED_MODEL)


async def test_the_ping_answer_is_remembered_between_speakers(fake_ollama):
    for _ in range(3):
        await llm.resolve(None)
    paths = [r["path"] for r in fake_ollama.requests]
    assert paths.count("/api/version") == 1 and paths.count("/api/tags") == 3


async def test_clients_are_pooled_per_engine_until_reset(fake_ollama):
    first, _ = await llm.resolve(None)
    again, _ = await llm.resolve("qwen2.5:7b")
    assert first is again
    llm.reset_clients()
    fresh, _ = await llm.resolve(None)
    assert fresh is not first


@pytest.mark.parametrize("backend, expected", [("ollama", "ollama"), ("embedded", "embedded"), ("openai", "openai")])
async def test_an_explicit_backend_is_used_without_probing(fake_ollama, settings, backend, expected):
    settings.LLM_BACKEND = backend
    settings.OPENAI_BASE_URL = fake_ollama.openai_url
    client, model = await llm.resolve(None)
    assert client.backend == expected
    assert model == (EMBEDDED_MODEL if backend == "embedded" else "llama3.2")
    assert "/api/version" not in [r["path"] for r in fake_ollama.requests]


async def test_a_misconfigured_backend_is_a_permanent_error(fake_ollama, settings):
    settings.LLM_BACKEND = "openai"
    with pytest.raises(PermanentError, match="OPENAI_BASE_URL is not set"):
        await llm.resolve(None)
    settings.LLM_BACKEND = "gpt"
    with pytest.raises(PermanentError, match="LLM_BACKEND must be one of"):
        await llm.resolve(None)


async def test_list_models_reports_ollamas_models_without_a_notice(fake_ollama):
    models, notice = await llm.list_models()
    assert notice is None
    assert [m.name for m in models] == ["llama3.2:latest", "qwen2.5:7b", "llava:7b"]
