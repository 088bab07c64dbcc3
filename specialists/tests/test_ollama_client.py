"""OllamaClient against the fake Ollama over real sockets."""

import json
import time

import httpx
import pytest

from specialists.clients.ollama import OllamaClient
from studio.errors import PermanentError, TransientError

LUNA = [
    {"role": "system", "content": "You are Luna, the team's style lead."},
    {"role": "user", "content": "a fox in the snow"},
]


@pytest.fixture
async def client(fake_ollama):
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=5)
    yield client
    await client.aclose()


async def collect(stream, into=None):
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


async def test_it_streams_the_reply_in_order_and_ends_with_stats(client, fake_ollama):
    chunks = await collect(client.stream_chat("llama3.2", LUNA))
    text = "".join(c.content for c in chunks)
    assert text.startswith("Luna here.") and "a fox in the snow" in text
    assert len(chunks) > 10 and not any(c.done for c in chunks[:-1])
    final = chunks[-1]
    assert final.done and final.content == ""
    assert final.stats["done_reason"] == "stop" and final.stats["model"] == "llama3.2"
    assert final.stats["eval_count"] == len(chunks) - 1
    assert final.stats["eval_duration"] > 0 and final.stats["total_duration"] >= final.stats["eval_duration"]
    [request] = fake_ollama.chat_requests()
    assert request["json"]["stream"] is True and request["json"]["messages"] == LUNA


async def test_it_yields_each_token_as_soon_as_it_arrives(client, fake_ollama):
    fake_ollama.token_delay = 0.03
    received = []
    async for _chunk in client.stream_chat("llama3.2", LUNA):
        received.append(time.time())
    sent = fake_ollama.chat_requests()[0]["token_times"]
    assert received[0] < sent[-1] - 0.2, "the first token waited for the rest of the reply"
    assert received[0] < sent[len(sent) // 2], "the first token waited for half of the reply"


async def test_it_sends_format_options_and_images(client, fake_ollama):
    messages = [{"role": "user", "content": "what do you see?", "images": ["aGVsbG8="]}]
    options = {"temperature": 0.2, "seed": 7, "num_ctx": 4096, "num_predict": 64}
    chunks = await collect(client.stream_chat("llava:7b", messages, options=options))
    assert "In the image" in "".join(c.content for c in chunks)
    body = fake_ollama.chat_requests()[0]["json"]
    assert body["options"] == options and body["messages"][0]["images"] == ["aGVsbG8="]
    assert "format" not in body


async def test_a_json_schema_format_yields_valid_json(client, fake_ollama):
    schema = {
        "type": "object",
        "properties": {
            "mood": {"type": "string", "enum": ["calm", "wild"]},
            "width": {"type": "integer", "minimum": 256, "maximum": 2048, "multipleOf": 8},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        },
        "required": ["mood", "width", "tags"],
    }
    chunks = await collect(client.stream_chat("llama3.2", LUNA, format=schema))
    reply = json.loads("".join(c.content for c in chunks))
    assert reply["mood"] == "calm"
    assert 256 <= reply["width"] <= 2048 and reply["width"] % 8 == 0
    assert len(reply["tags"]) >= 2 and all(isinstance(t, str) for t in reply["tags"])
    assert fake_ollama.chat_requests()[0]["json"]["format"] == schema


async def test_a_missing_model_is_a_permanent_error_with_the_pull_command(client):
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("mistral-nemo:12b", LUNA))
    assert "ollama pull mistral-nemo:12b" in failed.value.message
    assert failed.value.detail == {"model": "mistral-nemo:12b"}


async def test_an_error_line_mid_stream_is_transient_and_keeps_the_tokens_before_it(client, fake_ollama):
    fake_ollama.fail_next("error_line", after_tokens=3, message="CUDA error: out of memory")
    chunks = []
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA), into=chunks)
    assert "CUDA error: out of memory" in failed.value.message
    assert [c.content for c in chunks] == ["Luna", " here.", " Thinki"]


async def test_a_dropped_connection_mid_stream_is_transient(client, fake_ollama):
    fake_ollama.fail_next("drop", after_tokens=4)
    chunks = []
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA), into=chunks)
    assert "stopped answering in the middle of a reply" in failed.value.message
    assert len(chunks) == 4 and not any(c.done for c in chunks)


async def test_a_server_error_is_transient_and_a_bad_request_is_permanent(client, fake_ollama):
    fake_ollama.fail_next("server_error", message="unexpected server status 1")
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA))
    assert "500" in failed.value.message and "unexpected server status 1" in failed.value.message
    fake_ollama.fail_next("server_error", status=400, message='invalid format: expected "json" or a JSON schema')
    with pytest.raises(PermanentError) as refused:
        await collect(client.stream_chat("llama3.2", LUNA))
    assert "invalid format" in refused.value.message


async def test_a_hung_server_times_out_as_transient(fake_ollama):
    fake_ollama.fail_next("hang")
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=5, first_token_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA))
    await client.aclose()
    assert time.monotonic() - started < 3
    assert "did not start answering within 0.3 s" in failed.value.message
    assert "LLM_FIRST_TOKEN_TIMEOUT" in failed.value.message


async def test_a_reply_may_wait_long_to_start_while_the_model_loads(fake_ollama):
    fake_ollama.load_delay = 0.8
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=0.3, first_token_timeout=30)
    chunks = await collect(client.stream_chat("llama3.2", LUNA))
    await client.aclose()
    assert chunks[-1].done and "".join(c.content for c in chunks).startswith("Luna here.")


async def test_a_queued_reply_waits_its_turn_behind_another(fake_ollama):
    import asyncio

    fake_ollama.parallel, fake_ollama.token_delay = 1, 0.02
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=0.3, first_token_timeout=30)
    first, second = await asyncio.gather(
        collect(client.stream_chat("llama3.2", LUNA)), collect(client.stream_chat("llama3.2", LUNA))
    )
    await client.aclose()
    assert first[-1].done and second[-1].done
    one, two = sorted(fake_ollama.chat_requests(), key=lambda r: r["token_times"][0])
    assert two["token_times"][0] >= one["token_times"][-1], "the engine served both at once"


async def test_a_reply_that_pauses_too_long_once_started_is_transient_and_keeps_its_tokens(fake_ollama):
    fake_ollama.fail_next("stall", after_tokens=3)
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=0.3, first_token_timeout=30)
    chunks = []
    started = time.monotonic()
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA), into=chunks)
    await client.aclose()
    assert time.monotonic() - started < 10
    assert len(chunks) == 3 and "sent nothing for 0.3 s in the middle of a reply" in failed.value.message


async def test_an_unreachable_ollama_says_how_to_start_it(dead_url):
    client = OllamaClient(dead_url, connect_timeout=1, read_timeout=1)
    with pytest.raises(TransientError) as failed:
        await collect(client.stream_chat("llama3.2", LUNA))
    with pytest.raises(TransientError) as listing:
        await client.list_models()
    assert await client.ping() is False
    await client.aclose()
    expected = f"Ollama is not reachable at {dead_url}. Start it with `ollama serve`, or set OLLAMA_URL."
    assert failed.value.message == expected and listing.value.message == expected


@pytest.mark.parametrize("call", ["capabilities", "unload", "loaded", "pull"])
async def test_every_call_to_an_unreachable_ollama_says_how_to_start_it(dead_url, call):
    client = OllamaClient(dead_url, connect_timeout=1, read_timeout=1)
    calls = {
        "capabilities": lambda: client.capabilities("llama3.2"),
        "unload": lambda: client.unload("llama3.2"),
        "loaded": lambda: client.loaded(),
        "pull": lambda: collect(client.pull("llama3.2")),
    }
    try:
        with pytest.raises(TransientError) as failed:
            await calls[call]()
    finally:
        await client.aclose()

    assert (
        failed.value.message
        == f"Ollama is not reachable at {dead_url}. Start it with `ollama serve`, or set OLLAMA_URL."
    )


async def test_it_lists_installed_models(client, fake_ollama):
    fake_ollama.models = ["llama3.2", "qwen2.5:7b"]
    models = await client.list_models()
    assert [(m.name, m.family, m.parameter_size, m.backend) for m in models] == [
        ("llama3.2:latest", "llama", "3.2B", "ollama"),
        ("qwen2.5:7b", "qwen2", "7B", "ollama"),
    ]
    assert all(m.size > 0 for m in models)
    assert await client.ping() is True


async def test_it_unloads_a_loaded_model(client, fake_ollama):
    await collect(client.stream_chat("qwen2.5:7b", LUNA))
    assert [m["name"] for m in await client.loaded()] == ["qwen2.5:7b"]
    await client.unload("qwen2.5:7b")
    assert await client.loaded() == []
    unload = [r for r in fake_ollama.requests if r["path"] == "/api/generate"][0]
    assert unload["json"] == {"model": "qwen2.5:7b", "keep_alive": 0}
    with pytest.raises(PermanentError) as failed:
        await client.unload("gone")
    assert failed.value.message == "model gone is not installed in Ollama: run `ollama pull gone`"


@pytest.mark.parametrize(
    ("kind", "status", "error", "sentence"),
    [
        ("server_error", 500, TransientError, "Ollama at {url} failed (500): internal error. Try again."),
        ("server_error", 400, PermanentError, "Ollama refused the request (400): internal error"),
        ("drop", 500, TransientError, "Ollama at {url} dropped the connection (RemoteProtocolError); try again."),
    ],
)
async def test_an_unload_that_fails_says_how(client, fake_ollama, kind, status, error, sentence):
    fake_ollama.fail_next(kind, status=status, path="/api/generate")

    with pytest.raises(error) as failed:
        await client.unload("qwen2.5:7b")

    assert type(failed.value) is error and failed.value.message == sentence.format(url=fake_ollama.url)


async def test_a_pull_reports_each_step_and_installs_the_model(client, fake_ollama):
    lines = await collect(client.pull("qwen3:8b"))

    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    progress = [line for line in lines if "completed" in line]
    assert [line["completed"] * 4 // line["total"] for line in progress] == [1, 2, 3, 4]
    assert [r["json"] for r in fake_ollama.requests if r["path"] == "/api/pull"] == [
        {"model": "qwen3:8b", "stream": True}
    ]
    assert fake_ollama.pull_endings() == [("qwen3:8b", "installed")]
    assert "qwen3:8b" in [model.name for model in await client.list_models()]


@pytest.mark.parametrize(
    ("message", "sentence"),
    [
        (
            None,
            "Ollama has no model called qwen9 to download. Check the name on ollama.com/library "
            "(for example llama3.2 or qwen2.5:7b).",
        ),
        ("write /root/.ollama/models: no space left on device", None),
    ],
)
async def test_a_pull_that_fails_on_the_way_says_whether_the_name_or_the_machine_is_wrong(
    client, fake_ollama, message, sentence
):
    fake_ollama.fail_next("error_line", message=message, path="/api/pull")
    lines = []

    with pytest.raises(PermanentError) as failed:
        await collect(client.pull("qwen9"), into=lines)

    assert lines == [{"status": "pulling manifest"}]
    assert failed.value.message == (sentence or f"Ollama could not download qwen9: {message}")


async def test_a_pull_refused_at_once_is_told_like_any_refusal(client, fake_ollama):
    fake_ollama.fail_next("server_error", status=500, message="registry unreachable", path="/api/pull")

    with pytest.raises(TransientError) as failed:
        await collect(client.pull("qwen3:8b"))

    assert failed.value.message == f"Ollama at {fake_ollama.url} failed (500): registry unreachable. Try again."


async def test_a_pull_that_stops_reporting_is_transient_and_the_download_is_abandoned(fake_ollama):
    client = OllamaClient(fake_ollama.url, connect_timeout=1, read_timeout=0.5)
    fake_ollama.fail_next("stall", path="/api/pull")
    lines = []
    try:
        with pytest.raises(TransientError) as failed:
            await collect(client.pull("qwen3:8b"), into=lines)
    finally:
        await client.aclose()

    assert lines == [{"status": "pulling manifest"}]
    assert failed.value.message == f"Ollama at {fake_ollama.url} stopped reporting the download of qwen3:8b; try again."
    assert "qwen3:8b" not in fake_ollama.models


async def test_an_early_stop_by_the_consumer_closes_the_stream(client, fake_ollama):
    fake_ollama.token_delay = 0.02
    stream = client.stream_chat("llama3.2", LUNA)
    first = await anext(stream)
    await stream.aclose()
    assert first.content == "Luna"
    # The pooled connection is still usable for the next reply.
    fake_ollama.token_delay = 0
    chunks = await collect(client.stream_chat("llama3.2", LUNA))
    assert chunks[-1].done


# Every error text tests/recordings/README.md lists for Ollama, and what it must become.
CLASSIFIED = [
    (500, "this model is missing data required for image input", PermanentError, "cannot look at images"),
    (
        500,
        "model requires more system memory (12.4 GiB) than is available (7.1 GiB)",
        PermanentError,
        "needs 12.4 GiB of memory but only 7.1 GiB is free. Pick a smaller model",
    ),
    (500, "model runner has unexpectedly stopped, this may be due to resource limitations", PermanentError, "crashed"),
    (500, "llama runner process has terminated: signal: killed", PermanentError, "crashed"),
    (400, '"llama3.2" does not support thinking', PermanentError, "does not support thinking"),
    (503, "server busy, please try again.  maximum pending requests exceeded", TransientError, "overloaded"),
    (500, "an unexpected error", TransientError, "failed (500): an unexpected error"),
]


@pytest.mark.parametrize(("status", "text", "kind", "says"), CLASSIFIED)
async def test_each_error_text_is_classified_with_what_to_do(client, fake_ollama, status, text, kind, says):
    fake_ollama.fail_next("server_error", status=status, message=text)
    with pytest.raises(kind) as failed:
        await collect(client.stream_chat("llama3.2", LUNA))
    assert type(failed.value) is kind and says in failed.value.message


@pytest.mark.parametrize(("status", "text", "kind", "says"), CLASSIFIED)
async def test_the_same_texts_mid_reply_are_classified_the_same_way(client, fake_ollama, status, text, kind, says):
    fake_ollama.fail_next("error_line", after_tokens=3, message=text)
    chunks = []
    with pytest.raises((PermanentError, TransientError)) as failed:
        await collect(client.stream_chat("llama3.2", LUNA), into=chunks)
    assert len(chunks) == 3
    if kind is PermanentError:
        assert type(failed.value) is PermanentError and says in failed.value.message
    else:
        assert type(failed.value) is TransientError and text in failed.value.message


async def test_a_text_model_shown_an_image_is_a_permanent_error_naming_the_fix(client):
    messages = [{"role": "user", "content": "what do you see?", "images": ["aGVsbG8="]}]
    with pytest.raises(PermanentError) as failed:
        await collect(client.stream_chat("llama3.2", messages))
    assert "llama3.2 cannot look at images" in failed.value.message and "vision" in failed.value.message


async def test_a_thinking_models_reasoning_arrives_apart_from_the_reply(client, fake_ollama):
    fake_ollama.models = ["qwen3:8b"]
    chunks = await collect(client.stream_chat("qwen3:8b", LUNA))
    thinking = "".join(c.thinking for c in chunks)
    reply = "".join(c.content for c in chunks)
    assert thinking.startswith("Let me think") and "Let me think" not in reply
    assert reply.startswith("Luna here.")
    first_reply = next(i for i, c in enumerate(chunks) if c.content)
    assert all(c.thinking for c in chunks[:first_reply]) and not any(c.thinking for c in chunks[first_reply:])


@pytest.mark.parametrize(("model", "think", "thinks"), [("qwen3:8b", False, False), ("gpt-oss:20b", "low", True)])
async def test_think_false_stops_the_thinking_where_the_model_allows_it(client, fake_ollama, model, think, thinks):
    fake_ollama.models = [model]
    chunks = await collect(client.stream_chat(model, LUNA, think=think))
    assert fake_ollama.chat_requests()[0]["json"]["think"] == think
    assert bool("".join(c.thinking for c in chunks)) is thinks
    assert "".join(c.content for c in chunks).startswith("Luna here.")


async def test_num_predict_bounds_the_reply_and_the_stop_says_length(client, fake_ollama):
    chunks = await collect(client.stream_chat("llama3.2", LUNA, options={"num_predict": 5}))
    assert len([c for c in chunks if c.content]) == 5
    assert chunks[-1].stats["done_reason"] == "length" and chunks[-1].stats["eval_count"] == 5


async def test_reasoning_counts_against_num_predict(client, fake_ollama):
    fake_ollama.models = ["deepseek-r1:8b"]
    chunks = await collect(client.stream_chat("deepseek-r1:8b", LUNA, options={"num_predict": 8}))
    assert len([c for c in chunks if c.thinking]) == 8 and not [c for c in chunks if c.content]
    assert chunks[-1].stats["done_reason"] == "length"


@pytest.mark.parametrize(
    ("model", "vision", "thinking"),
    [("llava:7b", True, False), ("gemma3:1b", False, False), ("gemma3:4b", True, False), ("qwen3:8b", False, True)],
)
async def test_capabilities_come_from_api_show_not_the_name(client, fake_ollama, model, vision, thinking):
    fake_ollama.models = [model]
    found = await client.capabilities(model)
    assert (found.vision, found.thinking, found.known) == (vision, thinking, True)
    assert found.context_length == 131072
    assert fake_ollama.requests[-1]["path"] == "/api/show" and fake_ollama.requests[-1]["json"] == {"model": model}


@pytest.mark.parametrize(
    ("model", "labels"),
    [("llama3.2", ["tools"]), ("llava:7b", ["vision"]), ("qwen3:8b", ["thinking", "tools"]), ("gemma3:1b", [])],
)
async def test_capabilities_name_what_the_model_can_do(client, fake_ollama, model, labels):
    fake_ollama.models = [model]

    assert (await client.capabilities(model)).labels() == labels


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"capabilities": ["vision"], "model_info": {"x.context_length": 1}}', (True, 1)),
        ('{"capabilities": ["vision"], "model_info": {"x.context_length": 0}}', (True, None)),
        ('{"capabilities": [], "model_info": {"x.context_length": "4096"}}', (False, None)),
        ('{"capabilities": [], "model_info": {"x.block_count": 32}}', (False, None)),
        ('{"capabilities": [], "model_info": [["x.context_length", 8]]}', (False, None)),
    ],
)
async def test_a_context_length_is_believed_only_when_it_is_a_positive_whole_number(
    client, fake_ollama, body, expected
):
    fake_ollama.fail_next("raw", status=200, message=body, path="/api/show")

    found = await client.capabilities("llama3.2")

    assert (found.vision, found.context_length) == expected


@pytest.mark.parametrize(
    ("status", "body", "error", "sentence"),
    [
        (500, "boom", TransientError, "Ollama at {url} failed (500): boom. Try again."),
        (400, "bad", PermanentError, "Ollama refused the request (400): bad"),
        (200, "<html>", TransientError, "Ollama at {url} sent an unreadable answer to /api/show."),
    ],
)
async def test_capabilities_that_cannot_be_read_say_why(client, fake_ollama, status, body, error, sentence):
    fake_ollama.fail_next("raw", status=status, message=body, path="/api/show")

    with pytest.raises(error) as failed:
        await client.capabilities("llama3.2")

    assert type(failed.value) is error and failed.value.message == sentence.format(url=fake_ollama.url)


async def test_an_answer_that_is_not_a_mapping_says_nothing_is_known(client, fake_ollama):
    fake_ollama.fail_next("raw", status=200, message="[1]", path="/api/show")
    fake_ollama.fail_next("raw", status=200, message="[1]", path="/api/ps")

    assert (await client.capabilities("llama3.2")).known is False
    assert await client.loaded() == []


async def test_installed_models_are_read_whatever_fields_an_entry_lacks(client, fake_ollama):
    entries = [
        {"model": "a:1"},
        {"name": "", "model": ""},
        {"name": "b", "model": "other", "details": {"family": "qwen3", "parameter_size": "7B"}, "size": 12},
    ]
    fake_ollama.fail_next("raw", status=200, message=json.dumps({"models": entries}), path="/api/tags")

    models = await client.list_models()

    assert [(m.name, m.family, m.parameter_size, m.size, m.backend) for m in models] == [
        ("a:1", "", "", 0, "ollama"),
        ("b", "qwen3", "7B", 12, "ollama"),
    ]


@pytest.mark.parametrize(
    ("status", "body", "error", "sentence"),
    [
        (
            503,
            "queue full",
            TransientError,
            "Ollama at {url} is overloaded (its queue is full); try again in a moment.",
        ),
        (400, "bad", PermanentError, "Ollama refused the request (400): bad"),
        (200, "<html>", TransientError, "Ollama at {url} sent an unreadable answer to /api/tags."),
    ],
)
async def test_a_model_list_that_cannot_be_read_says_why(client, fake_ollama, status, body, error, sentence):
    fake_ollama.fail_next("raw", status=status, message=body, path="/api/tags")

    with pytest.raises(error) as failed:
        await client.list_models()

    assert type(failed.value) is error and failed.value.message == sentence.format(url=fake_ollama.url)


async def test_a_pull_refused_outright_is_a_lasting_error(client, fake_ollama):
    fake_ollama.fail_next("raw", status=400, message='{"error": "invalid model name"}', path="/api/pull")

    with pytest.raises(PermanentError) as failed:
        await collect(client.pull("Bad Name"))

    assert failed.value.message == "Ollama refused the request (400): invalid model name"


async def test_an_ollama_too_old_to_report_capabilities_says_it_does_not_know(client, fake_ollama):
    fake_ollama.reports_capabilities = False
    found = await client.capabilities("llava:7b")
    assert found.known is False and found.vision is False and found.context_length == 131072


async def test_capabilities_of_a_missing_model_name_the_pull_command(client):
    with pytest.raises(PermanentError, match="ollama pull nope"):
        await client.capabilities("nope")


async def test_replies_reuse_one_pooled_connection(client, fake_ollama):
    for _ in range(3):
        await collect(client.stream_chat("llama3.2", LUNA))
    peers = {r["peer"] for r in fake_ollama.chat_requests()}
    assert len(fake_ollama.chat_requests()) == 3 and len(peers) == 1, peers


# ---- every way an answer can go wrong, as the sentence the artist reads -----------------------------------------
OLLAMA = "http://ollama.test:11434"


@pytest.fixture
def offline():
    """A client that never connects: the error mapping is checked on its own."""
    return OllamaClient(OLLAMA + "/", read_timeout=5, first_token_timeout=600)


UNREACHABLE = f"Ollama is not reachable at {OLLAMA}. Start it with `ollama serve`, or set OLLAMA_URL."
STOPPED = (
    f"Ollama stopped answering in the middle of a reply (at {OLLAMA}). "
    "It may have crashed or run out of memory; try again."
)


@pytest.mark.parametrize(
    "error, during_reply, streaming, expected",
    [
        (httpx.ConnectError("refused"), True, True, UNREACHABLE),
        (httpx.ConnectTimeout("slow"), False, False, UNREACHABLE),
        (
            httpx.PoolTimeout("full"),
            True,
            True,
            f"Ollama at {OLLAMA} is busy with other replies; try again in a moment.",
        ),
        (httpx.ReadError("reset"), True, True, STOPPED),
        (httpx.ReadTimeout("slow"), True, False, STOPPED),
        (httpx.ReadTimeout("slow"), False, False, f"Ollama at {OLLAMA} did not answer within 5 s; try again."),
        (
            httpx.ReadTimeout("slow"),
            False,
            True,
            f"Ollama at {OLLAMA} did not start answering within 600 s: the model may still be loading, or other "
            "replies are ahead in its queue (it serves one at a time unless OLLAMA_NUM_PARALLEL says more). "
            "Try again, or raise LLM_FIRST_TOKEN_TIMEOUT.",
        ),
        (
            httpx.RemoteProtocolError("eh"),
            False,
            False,
            f"Ollama at {OLLAMA} dropped the connection (RemoteProtocolError); try again.",
        ),
        (
            httpx.ReadError("reset"),
            False,
            True,
            f"Ollama at {OLLAMA} dropped the connection (ReadError); try again.",
        ),
    ],
)
def test_each_transport_failure_is_transient_and_says_what_happened(offline, error, during_reply, streaming, expected):
    mapped = offline._transport_error(error, during_reply=during_reply, streaming=streaming)
    assert type(mapped) is TransientError and str(mapped) == expected


MEMORY = (
    "llama3.2 needs 9.1 GiB of memory but only 4.0 GiB is free. Pick a smaller model in the session settings, "
    "or free memory (ComfyUI holds GPU memory too)."
)
CRASHED = (
    "Ollama's runner for llama3.2 crashed, most often because the model does not fit in memory. Pick a smaller "
    "model, or look at Ollama's log (`journalctl -u ollama` or ~/.ollama/logs/server.log)."
)
NO_THINKING = "llama3.2 does not support thinking, but the studio asked it to; pick another model or report this."
NO_VISION = (
    "llama3.2 cannot look at images. Give this specialist a vision model in the session settings "
    "(one whose capabilities list “vision”, e.g. qwen2.5vl or gemma3:4b)."
)


@pytest.mark.parametrize(
    "message, status, kind, expected",
    [
        ("boom", None, TransientError, "Ollama reported an error in the middle of a reply: boom. Try again."),
        (
            "queue full",
            503,
            TransientError,
            f"Ollama at {OLLAMA} is overloaded (its queue is full); try again in a moment.",
        ),
        ("boom", 500, TransientError, f"Ollama at {OLLAMA} failed (500): boom. Try again."),
        ("boom", 502, TransientError, f"Ollama at {OLLAMA} failed (502): boom. Try again."),
        ("odd", 499, PermanentError, "Ollama refused the request (499): odd"),
        ("bad request", 400, PermanentError, "Ollama refused the request (400): bad request"),
        ("model requires more system memory (9.1 GiB) than is available (4.0 GiB)", 500, PermanentError, MEMORY),
        ("Model Requires More System Memory (9.1 GiB) Than Is Available (4.0 GiB)", None, PermanentError, MEMORY),
        ("llama runner process has terminated: exit status 2", None, PermanentError, CRASHED),
        (
            "model runner has unexpectedly stopped, this may be due to resource limitations",
            500,
            PermanentError,
            CRASHED,
        ),
        ("registry.ollama.ai/library/x does not support thinking", 400, PermanentError, NO_THINKING),
        ("this model is missing data required for image input", 500, PermanentError, NO_VISION),
        ("llava does not support images", 400, PermanentError, NO_VISION),
        ("qwen does not support vision", 400, PermanentError, NO_VISION),
    ],
)
def test_an_error_text_is_permanent_only_where_a_retry_cannot_help(offline, message, status, kind, expected):
    mapped = offline._classified(message, "llama3.2", status)
    assert type(mapped) is kind and str(mapped) == expected


def test_a_permanent_error_without_a_model_names_this_model(offline):
    assert str(offline._classified("missing data required for image input", None, 500)).startswith(
        "this model cannot look at images."
    )


@pytest.mark.parametrize(
    "response, model, expected",
    [
        (httpx.Response(404, json={"error": 'model "qwen3" not found, try pulling it first'}), None, "qwen3"),
        (httpx.Response(404, json={"error": "model 'qwen3:8b' not found"}), "qwen3:8b", "qwen3:8b"),
    ],
)
def test_a_missing_model_names_the_pull_command(offline, response, model, expected):
    mapped = offline._http_error(response, model)
    assert isinstance(mapped, PermanentError)
    assert str(mapped) == f"model {expected} is not installed in Ollama: run `ollama pull {expected}`"
    assert mapped.detail == {"model": expected}


def test_a_404_from_something_that_is_not_ollama_says_so(offline):
    mapped = offline._http_error(httpx.Response(404, text="<h1>Not Found</h1>"), "qwen3")
    assert str(mapped) == f"{OLLAMA} answered 404 (<h1>Not Found</h1>). Is OLLAMA_URL pointing at an Ollama server?"


@pytest.mark.parametrize(
    "response, text",
    [
        (httpx.Response(500, json={"error": "out of memory"}), "out of memory"),
        (httpx.Response(500, json={"error": {"message": "nested", "type": "x"}}), "nested"),
        (httpx.Response(500, json={"error": {"type": "x"}}), "{'type': 'x'}"),
        (httpx.Response(500, json={"detail": "other"}), '{"detail":"other"}'),
        (httpx.Response(502, text="  bad gateway \n"), "bad gateway"),
        (httpx.Response(502, text=""), "Bad Gateway"),
        (httpx.Response(500, text="x" * 600), "x" * 500),
    ],
)
def test_the_error_text_is_read_from_whatever_the_server_sent(offline, response, text):
    assert (
        str(offline._http_error(response, "qwen3"))
        == f"Ollama at {OLLAMA} failed ({response.status_code}): {text}. Try again."
    )


def test_a_line_that_is_not_a_json_object_is_a_transient_error():
    from specialists.clients.ollama import _parse_line

    assert _parse_line('{"done": true}') == {"done": True}
    with pytest.raises(TransientError, match="^Ollama sent a line that is not JSON: '<html>'$"):
        _parse_line("<html>")
    with pytest.raises(TransientError, match=r"^Ollama sent an unexpected line: '\[1\]'$"):
        _parse_line("[1]")


NO_SUCH_MODEL = (
    "Ollama has no model called qwen9 to download. Check the name on ollama.com/library "
    "(for example llama3.2 or qwen2.5:7b)."
)


@pytest.mark.parametrize(
    "error, expected",
    [
        ("pull model manifest: file does not exist", NO_SUCH_MODEL),
        ("model not found", NO_SUCH_MODEL),
        ("disk full", "Ollama could not download qwen9: disk full"),
    ],
)
def test_a_failed_download_says_whether_the_name_or_the_machine_is_wrong(error, expected):
    from specialists.clients.ollama import _pull_failure

    assert _pull_failure("qwen9", error) == expected


def test_gpt_oss_thinks_at_a_low_level_because_it_cannot_stop():
    from specialists.clients.ollama import think_off

    assert think_off("gpt-oss:20b") == "low" and think_off("my-model", family="gptoss") == "low"
    assert think_off("qwen3:8b", family="qwen3") is False
