"""OpenAICompatClient against each OpenAI-compatible server's dialect (tests/fakes/openai_server.py)."""

import json

import pytest

from specialists.clients.openai_compat import OpenAICompatClient
from studio.errors import PermanentError, TransientError
from tests.fakes.openai_server import DIALECTS, LMSTUDIO_FORMAT_REFUSAL, LOADED_MODEL

SAGA = [
    {"role": "system", "content": "You are Saga, the team's storyteller."},
    {"role": "user", "content": "a lighthouse at dusk"},
]
SCHEMA = {
    "type": "object",
    "properties": {"positive_prompt": {"type": "string"}, "steps": {"type": "integer", "minimum": 1, "maximum": 80}},
    "required": ["positive_prompt", "steps"],
}
every_dialect = pytest.mark.parametrize("fake_openai", DIALECTS, indirect=True)


@pytest.fixture
async def client(fake_openai):
    client = OpenAICompatClient(fake_openai.url, connect_timeout=1, read_timeout=5)
    yield client
    await client.aclose()


async def collect(stream, into=None):
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


@every_dialect
async def test_it_reads_the_reply_in_every_dialect(client, fake_openai):
    chunks = await collect(client.stream_chat("whatever-name", SAGA))
    assert "".join(c.content for c in chunks).startswith("Saga here.")
    final = chunks[-1]
    assert final.done and final.stats["total_duration"] > 0
    stats = {key: value for key, value in final.stats.items() if key != "total_duration"}
    if fake_openai.dialect == "llama-cpp-python":
        # It echoes the name asked for, and ignores stream_options: no usage to report.
        assert stats == {"model": "whatever-name", "done_reason": "stop"}
    else:
        replied = len([c for c in chunks if c.content])
        assert stats == {"model": LOADED_MODEL, "done_reason": "stop", "eval_count": replied, "prompt_eval_count": 36}


@every_dialect
async def test_a_schema_gets_valid_json_in_every_dialect_and_the_dialect_is_remembered(client, fake_openai):
    for _ in range(2):
        chunks = await collect(client.stream_chat("smollm2", SAGA, format=SCHEMA))
        brief = json.loads("".join(c.content for c in chunks))
        assert set(brief) == {"positive_prompt", "steps"} and 1 <= brief["steps"] <= 80
    sent = [r["json"]["response_format"] for r in fake_openai.chat_requests()]
    if fake_openai.dialect == "llama-cpp-python":
        # refused once (the recorded validation error), then json_object with the schema, remembered
        assert [f["type"] for f in sent] == ["json_schema", "json_object", "json_object"]
        assert sent[1]["schema"] == SCHEMA
    else:
        assert [f["type"] for f in sent] == ["json_schema", "json_schema"]
        assert sent[0]["json_schema"]["schema"] == SCHEMA


@pytest.mark.parametrize("fake_openai", ["lmstudio"], indirect=True)
async def test_a_server_that_takes_json_schema_only_is_taught_back_after_a_json_object_refusal(client, fake_openai):
    from specialists.clients import openai_compat

    openai_compat._dialects[client.base_url] = "json_object"
    chunks = await collect(client.stream_chat("smollm2", SAGA, format=SCHEMA))
    assert set(json.loads("".join(c.content for c in chunks))) == {"positive_prompt", "steps"}
    assert [r["json"]["response_format"]["type"] for r in fake_openai.chat_requests()] == ["json_object", "json_schema"]


@pytest.mark.parametrize("fake_openai", ["lmstudio"], indirect=True)
async def test_plain_json_asked_of_a_server_that_refuses_it_says_what_the_server_said(client, fake_openai):
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("smollm2", SAGA, format="json"))

    assert failed.value.message == (
        f"The model server at {fake_openai.url} accepts neither form of structured output the studio knows "
        f"(JSON schema, JSON object with a schema): {LMSTUDIO_FORMAT_REFUSAL}"
    )
    assert len(fake_openai.chat_requests()) == 1


async def test_the_api_key_is_sent_as_a_bearer_token_and_no_key_sends_none(fake_openai):
    for key, sent in (("sk-local", "Bearer sk-local"), ("", None)):
        client = OpenAICompatClient(fake_openai.url, key, connect_timeout=1, read_timeout=5)
        try:
            await client.list_models()
        finally:
            await client.aclose()
        assert fake_openai.requests[-1]["authorization"] == sent


@pytest.mark.parametrize(
    ("answer", "error", "sentence"),
    [
        ((500, "upstream down"), TransientError, "The model server at {url} failed (500): upstream down"),
        ((400, "bad"), PermanentError, "The model server at {url} refused the request (400): bad"),
        ((200, "<html>"), TransientError, "The model server at {url} sent an unreadable model list."),
    ],
)
async def test_a_model_list_that_fails_says_how(client, fake_openai, answer, error, sentence):
    fake_openai.models_answer = answer

    with pytest.raises(error) as failed:
        await client.list_models()

    assert type(failed.value) is error and failed.value.message == sentence.format(url=fake_openai.url)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('{"data": [{"id": "a"}, {"id": ""}, "b", {"name": "c"}, {"id": "d"}]}', ["a", "d"]),
        ('{"data": null}', []),
        ("[1, 2]", []),
    ],
)
async def test_only_entries_with_a_name_are_models(client, fake_openai, body, names):
    fake_openai.models_answer = (200, body)

    assert [model.name for model in await client.list_models()] == names


@every_dialect
async def test_an_error_in_the_middle_of_the_stream_is_transient_and_keeps_the_tokens(client, fake_openai):
    fake_openai.fail_next("error_mid_stream", after_tokens=3, message="slot unavailable")
    chunks = []
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("smollm2", SAGA), into=chunks)
    assert "slot unavailable" in failed.value.message
    assert len([c for c in chunks if c.content]) == 3


@every_dialect
async def test_a_stream_with_no_event_at_all_is_an_error_not_an_empty_reply(client, fake_openai):
    fake_openai.fail_next("empty_stream")
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("smollm2", SAGA))
    assert failed.value.message == f"The model server at {fake_openai.url} ended the reply without a word; try again."


@every_dialect
async def test_an_image_for_a_model_without_vision_is_a_permanent_error_with_the_fix(client, fake_openai):
    messages = [{"role": "user", "content": "what do you see?", "images": ["aGVsbG8="]}]
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("smollm2", messages))
    assert "cannot look at images" in failed.value.message and "vision" in failed.value.message
    assert "mmproj" not in failed.value.message or fake_openai.dialect.startswith("llama.cpp")


@every_dialect
async def test_max_tokens_bounds_the_reply_and_the_stop_says_length(client, fake_openai):
    chunks = await collect(client.stream_chat("smollm2", SAGA, options={"num_predict": 4}))
    assert len([c for c in chunks if c.content]) == 4 and chunks[-1].stats["done_reason"] == "length"


@every_dialect
async def test_a_reasoning_models_thoughts_arrive_apart_from_the_reply(client, fake_openai):
    chunks = await collect(client.stream_chat("qwen3-8b", SAGA))
    assert "".join(c.thinking for c in chunks).startswith("Let me think")
    assert "".join(c.content for c in chunks).startswith("Saga here.")


@every_dialect
async def test_a_refusal_is_shown_as_a_sentence_never_as_a_validation_dump(client, fake_openai):
    fake_openai.fail_next("server_error", message=_recorded_dump())
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("smollm2", SAGA))
    message = failed.value.message
    assert "Input should be 'text' or 'json_object' (in body.response_format.type)" in message
    assert "site-packages" not in message and "File " not in message and "{" not in message


@every_dialect
async def test_capabilities_come_from_props_where_the_server_has_them(client, fake_openai):
    found = await client.capabilities("smollm2")
    if fake_openai.dialect.startswith("llama.cpp"):
        assert (found.known, found.vision, found.context_length) == (True, False, 4096)
        fake_openai.vision = True
        assert (await client.capabilities("smollm2")).vision is True
    else:
        assert found.known is False and found.vision is False


@pytest.mark.parametrize(("n_ctx", "context_length"), [(8192, 8192), (1, 1), (0, None), (-1, None), ("4096", None)])
async def test_only_a_positive_whole_context_size_is_believed(client, fake_openai, n_ctx, context_length):
    fake_openai.n_ctx = n_ctx

    assert (await client.capabilities("smollm2")).context_length == context_length


async def test_the_options_the_studio_sets_become_the_servers_own_fields(client, fake_openai):
    options = {"temperature": 0.4, "seed": 7, "num_predict": 64, "top_p": 0.9, "num_ctx": 8192, "top_k": None}

    await collect(client.stream_chat("smollm2", SAGA, options=options))

    sent = fake_openai.chat_requests()[0]["json"]
    assert {key: sent[key] for key in ("temperature", "seed", "max_tokens", "top_p")} == {
        "temperature": 0.4,
        "seed": 7,
        "max_tokens": 64,
        "top_p": 0.9,
    }
    assert not {"num_ctx", "num_predict", "top_k"} & set(sent)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_a_none_option_is_left_to_the_server(client, fake_openai):
    await collect(client.stream_chat("smollm2", SAGA, options={"temperature": None}))

    assert "temperature" not in fake_openai.chat_requests()[0]["json"]


@every_dialect
async def test_replies_reuse_one_pooled_connection(client, fake_openai):
    for _ in range(3):
        await collect(client.stream_chat("smollm2", SAGA))
    assert len({r["peer"] for r in fake_openai.chat_requests()}) == 1


def _recorded_dump() -> str:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tests/recordings/openai_compat/llama_cpp_python"
    return json.loads((path / "json_schema_stream.response.txt").read_text())["error"]["message"]
