"""OpenAICompatClient against the fake's OpenAI-compatible endpoints (/v1) over real sockets."""

import json

import pytest

from specialists.clients.openai_compat import OpenAICompatClient
from studio.errors import PermanentError, TransientError

SAGA = [
    {"role": "system", "content": "You are Saga, the team's storyteller."},
    {"role": "user", "content": "a lighthouse at dusk"},
]


@pytest.fixture
async def client(fake_ollama):
    client = OpenAICompatClient(fake_ollama.openai_url, "sk-local", connect_timeout=1, read_timeout=5)
    yield client
    await client.aclose()


async def collect(stream, into=None):
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


async def test_it_streams_server_sent_events_and_ends_with_stats(client, fake_ollama):
    chunks = await collect(client.stream_chat("llama3.2", SAGA, options={"temperature": 0.3, "num_predict": 99}))
    text = "".join(c.content for c in chunks)
    assert text.startswith("Saga here.") and "a lighthouse at dusk" in text
    final = chunks[-1]
    assert final.done and not any(c.done for c in chunks[:-1])
    assert final.stats["done_reason"] == "stop" and final.stats["eval_count"] == len(chunks) - 1
    assert final.stats["total_duration"] > 0
    [request] = fake_ollama.chat_requests()
    assert request["path"] == "/v1/chat/completions"
    body = request["json"]
    assert body["stream"] is True and body["temperature"] == 0.3 and body["max_tokens"] == 99


async def test_a_schema_becomes_a_json_schema_response_format(client, fake_ollama):
    schema = {"type": "object", "properties": {"mood": {"type": "string", "enum": ["calm", "wild"]}}}
    chunks = await collect(client.stream_chat("llama3.2", SAGA, format=schema))
    assert json.loads("".join(c.content for c in chunks)) == {"mood": "calm"}
    body = fake_ollama.chat_requests()[0]["json"]
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "brief", "schema": schema}}


async def test_images_travel_as_data_url_content_parts(client, fake_ollama):
    messages = [{"role": "user", "content": "look", "images": ["aGVsbG8="]}]
    chunks = await collect(client.stream_chat("llava:7b", messages))
    assert "In the image" in "".join(c.content for c in chunks)
    content = fake_ollama.chat_requests()[0]["json"]["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}},
    ]


async def test_an_unknown_model_is_a_permanent_error_naming_it(client):
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("gpt-17", SAGA))
    assert "model gpt-17 is not available" in failed.value.message
    assert failed.value.detail == {"model": "gpt-17"}


async def test_stream_failures_are_transient_and_keep_earlier_tokens(client, fake_ollama):
    fake_ollama.fail_next("error_line", after_tokens=2, message="slot unavailable")
    chunks = []
    with pytest.raises(TransientError, match="slot unavailable"):
        await collect(client.stream_chat("llama3.2", SAGA), into=chunks)
    assert [c.content for c in chunks] == ["Saga", " here."]

    fake_ollama.fail_next("drop", after_tokens=3)
    chunks = []
    with pytest.raises(TransientError, match="stopped answering in the middle of a reply"):
        await collect(client.stream_chat("llama3.2", SAGA), into=chunks)
    assert len(chunks) == 3

    fake_ollama.fail_next("server_error", status=503)
    with pytest.raises(TransientError, match="503"):
        await collect(client.stream_chat("llama3.2", SAGA))


async def test_it_lists_models_and_sends_the_api_key(client, fake_ollama):
    models = await client.list_models()
    assert [m.name for m in models] == fake_ollama.models
    assert all(m.backend == "openai" for m in models)
    assert await client.ping() is True
    assert {r["authorization"] for r in fake_ollama.requests} == {"Bearer sk-local"}


async def test_an_unreachable_server_says_which_setting_to_fix(dead_url):
    client = OpenAICompatClient(f"{dead_url}/v1", connect_timeout=1, read_timeout=1)
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", SAGA))
    assert await client.ping() is False
    await client.aclose()
    assert f"not reachable at {dead_url}/v1" in failed.value.message and "OPENAI_BASE_URL" in failed.value.message
