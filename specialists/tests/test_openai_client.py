"""OpenAICompatClient against the fake's OpenAI-compatible endpoints (/v1) over real sockets."""

import json

import httpx
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


# ---- every way an answer can go wrong, as the sentence the artist reads -----------------------------------------
SERVER = "http://llama.test:8080/v1"


BAD_KEY = f"The model server at {SERVER} refused the API key: set OPENAI_API_KEY."
NO_VISION = (
    "{model} on the model server cannot look at images (the server has no vision projector loaded). Give this "
    "specialist a vision model, or start the server with one (llama.cpp: --mmproj)."
)


@pytest.fixture
def offline():
    """A client that never connects: the error mapping is checked on its own."""
    return OpenAICompatClient(SERVER + "/", read_timeout=5, first_token_timeout=600)


@pytest.mark.parametrize(
    "error, during_reply, streaming, expected",
    [
        (
            httpx.ConnectError("refused"),
            True,
            True,
            f"The OpenAI-compatible server is not reachable at {SERVER}. Start it, or fix OPENAI_BASE_URL.",
        ),
        (
            httpx.ConnectTimeout("slow"),
            False,
            False,
            f"The OpenAI-compatible server is not reachable at {SERVER}. Start it, or fix OPENAI_BASE_URL.",
        ),
        (
            httpx.PoolTimeout("full"),
            False,
            False,
            f"The model server at {SERVER} did not answer within 5 s; try again.",
        ),
        (
            httpx.ReadError("reset"),
            True,
            True,
            f"The model server at {SERVER} stopped answering in the middle of a reply; try again.",
        ),
        (
            httpx.ReadTimeout("slow"),
            False,
            False,
            f"The model server at {SERVER} did not answer within 5 s; try again.",
        ),
        (
            httpx.ReadTimeout("slow"),
            False,
            True,
            f"The model server at {SERVER} did not answer within 600 s; try again (LLM_FIRST_TOKEN_TIMEOUT sets how "
            "long a reply may wait to start).",
        ),
        (
            httpx.RemoteProtocolError("eh"),
            False,
            False,
            f"The model server at {SERVER} dropped the connection; try again.",
        ),
        (httpx.ReadError("reset"), False, True, f"The model server at {SERVER} dropped the connection; try again."),
    ],
)
def test_each_transport_failure_is_transient_and_says_what_happened(offline, error, during_reply, streaming, expected):
    mapped = offline._transport_error(error, during_reply=during_reply, streaming=streaming)
    assert type(mapped) is TransientError and str(mapped) == expected


def test_a_reply_that_ends_without_a_word_is_permanent_only_when_an_image_was_shown(offline):
    with_image = offline._empty_stream("llama3.2", has_images=True)
    assert type(with_image) is PermanentError and str(with_image) == (
        f"The model server at {SERVER} ended the reply without a word when shown an image: "
        "llama3.2 probably cannot look at images. Give this specialist a vision model."
    )
    without = offline._empty_stream("llama3.2", has_images=False)
    assert type(without) is TransientError
    assert str(without) == f"The model server at {SERVER} ended the reply without a word; try again."


@pytest.mark.parametrize(
    "message, status, kind, expected",
    [
        (
            "boom\nTraceback: ...",
            None,
            TransientError,
            "The model server reported an error mid-reply: boom. Try again.",
        ),
        ("boom", 500, TransientError, f"The model server at {SERVER} failed (500): boom"),
        ("slow down", 429, TransientError, f"The model server at {SERVER} failed (429): slow down"),
        ("odd", 499, PermanentError, f"The model server at {SERVER} refused the request (499): odd"),
        ("odd", 428, PermanentError, f"The model server at {SERVER} refused the request (428): odd"),
        (
            "1 validation error for Request",
            500,
            PermanentError,
            f"The model server at {SERVER} refused the request: 1 validation error for Request",
        ),
        ("boom", 503, TransientError, f"The model server at {SERVER} failed (503): boom"),
        ("odd", 430, PermanentError, f"The model server at {SERVER} refused the request (430): odd"),
        ("image input is not supported", 500, PermanentError, NO_VISION.format(model="llama3.2")),
        (
            "the request exceeds the available context size",
            400,
            PermanentError,
            "The conversation is longer than llama3.2's context on the model server; start it with a larger "
            "context (llama.cpp: --ctx-size) or pick a model with a longer one.",
        ),
    ],
)
def test_an_error_text_is_permanent_only_where_a_retry_cannot_help(offline, message, status, kind, expected):
    mapped = offline._classified(message, "llama3.2", status)
    assert type(mapped) is kind and str(mapped) == expected


def test_a_permanent_error_without_a_model_names_the_model(offline):
    assert str(offline._classified("multimodal not enabled", None, 500)) == NO_VISION.format(model="the model")


def test_a_validation_dump_is_told_as_its_own_message_and_field(offline):
    dump = (
        "1 validation error for CreateChatCompletionRequest\n"
        "{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text'\"}"
    )
    assert str(offline._classified(dump, "llama3.2", 422)) == (
        f"The model server at {SERVER} refused the request: Input should be 'text' (in body.response_format.type)"
    )


@pytest.mark.parametrize(
    "response, model, expected",
    [
        (
            httpx.Response(404, json={"error": {"message": "no such model"}}),
            "qwen3",
            f"model qwen3 is not available on the model server at {SERVER}: load or download it there first "
            "(no such model)",
        ),
        (
            httpx.Response(404, text="Not Found"),
            None,
            f"The model server at {SERVER} refused the request (404): Not Found",
        ),
        (httpx.Response(401, json={"error": "bad key"}), "qwen3", BAD_KEY),
        (httpx.Response(403, text=""), "qwen3", BAD_KEY),
        (httpx.Response(402, text="pay"), "qwen3", f"The model server at {SERVER} refused the request (402): pay"),
        (
            httpx.Response(500, json={"error": {"code": 1}}),
            "qwen3",
            f"The model server at {SERVER} failed (500): {{'code': 1}}",
        ),
        (
            httpx.Response(500, json={"detail": "x"}),
            "qwen3",
            f'The model server at {SERVER} failed (500): {{"detail":"x"}}',
        ),
        (httpx.Response(502, text=""), "qwen3", f"The model server at {SERVER} failed (502): Bad Gateway"),
    ],
)
def test_an_http_error_names_the_model_the_key_or_what_the_server_said(offline, response, model, expected):
    mapped = offline._http_error(response, model)
    assert isinstance(mapped, PermanentError | TransientError) and str(mapped) == expected
    if response.status_code == 404 and model:
        assert mapped.detail == {"model": model}


def test_an_event_that_is_not_json_is_transient_and_one_that_is_not_an_object_is_empty():
    from specialists.clients.openai_compat import _parse_event

    with pytest.raises(TransientError, match="^The model server sent an event that is not JSON: '<html>'$"):
        _parse_event("<html>")
    assert _parse_event("[1]") == {} and _parse_event('{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    "schema, dialect, expected",
    [
        (None, "json_schema", None),
        ("json", "json_schema", {"type": "json_object"}),
        ({"type": "object"}, "json_object", {"type": "json_object", "schema": {"type": "object"}}),
        (
            {"type": "object"},
            "json_schema",
            {"type": "json_schema", "json_schema": {"name": "brief", "schema": {"type": "object"}}},
        ),
    ],
)
def test_the_structured_output_request_follows_the_servers_dialect(schema, dialect, expected):
    from specialists.clients.openai_compat import response_format

    assert response_format(schema, dialect) == expected


def test_images_are_sent_as_data_urls_in_content_parts():
    from specialists.clients.openai_compat import _openai_message

    assert _openai_message({"role": "user", "content": "hi"}) == {"role": "user", "content": "hi"}
    assert _openai_message({"role": "user", "images": ["aGVsbG8=", "data:image/jpeg;base64,eA=="]}) == {
        "role": "user",
        "content": [
            {"type": "text", "text": ""},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,eA=="}},
        ],
    }


@pytest.mark.parametrize(
    ("schema", "dialect", "sent"),
    [
        (None, "json_schema", None),
        ("json", "json_schema", {"type": "json_object"}),
        ("json", "json_object", {"type": "json_object"}),
        ("anything else", "json_schema", {"type": "json_object"}),
        ({"type": "object"}, "json_object", {"type": "json_object", "schema": {"type": "object"}}),
        (
            {"type": "object"},
            "json_schema",
            {"type": "json_schema", "json_schema": {"name": "brief", "schema": {"type": "object"}}},
        ),
    ],
)
def test_structured_output_is_asked_in_the_servers_dialect(schema, dialect, sent):
    from specialists.clients.openai_compat import response_format

    assert response_format(schema, dialect) == sent


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("x" * 200, "x" * 200),
        ("y" * 201, "y" * 200),
        ("\n\n  first line  \nsecond", "first line"),
        ("", ""),
    ],
)
def test_a_refusal_is_told_by_its_first_line_cut_at_200_characters(offline, text, said):
    assert (
        str(offline._classified(text, "qwen3", 400))
        == f"The model server at {SERVER} refused the request (400): {said}"
    )


async def test_an_unreachable_servers_model_list_says_how_to_start_it(dead_url):
    client = OpenAICompatClient(f"{dead_url}/v1", connect_timeout=1, read_timeout=1)
    try:
        with pytest.raises(TransientError) as failed:
            await client.list_models()
    finally:
        await client.aclose()

    assert failed.value.message == (
        f"The OpenAI-compatible server is not reachable at {dead_url}/v1. Start it, or fix OPENAI_BASE_URL."
    )
