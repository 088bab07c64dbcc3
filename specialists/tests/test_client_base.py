"""What both LLM clients share: model names, capabilities, timeouts and the watch on a silent engine."""

import asyncio

import httpx
import pytest

from specialists.clients.base import Capabilities, ReplyPaused, paced_lines, same_model, stream_timeout


@pytest.mark.parametrize(
    "requested, installed, same",
    [
        ("llama3.2", "llama3.2:latest", True),
        (" qwen3 ", "qwen3:latest ", True),
        ("llama3.2:3b", "llama3.2:3b", True),
        ("llama3.2:3b", "llama3.2:latest", False),
        ("llama3.2", "llama3.1", False),
        ("hf.co/bartowski/Llama-3.2-1B-GGUF", "hf.co/bartowski/Llama-3.2-1B-GGUF:latest", True),
        ("registry.local:5000/team/model", "registry.local:5000/team/model:latest", True),  # a port is no tag
        ("registry.local:5000/team/model:q4", "registry.local:5000/team/model:latest", False),
    ],
)
def test_a_model_name_without_a_tag_means_latest(requested, installed, same):
    assert same_model(requested, installed) is same
    assert same_model(installed, requested) is same


def test_capabilities_are_listed_in_a_fixed_order_and_only_when_reported():
    assert Capabilities().labels() == []
    assert Capabilities(tools=True, vision=True).labels() == ["vision", "tools"]
    assert Capabilities(vision=True, thinking=True, tools=True).labels() == ["vision", "thinking", "tools"]


def test_a_reply_may_wait_long_for_its_first_bytes_but_connects_quickly():
    timeout = stream_timeout(600, 5)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5, 600, 600, 600)


async def lines_from(chunks, *, between: float, reader_pause: float = 0.0) -> list[str]:
    """Read ``chunks`` (text, or a number of seconds the engine stays silent) through paced_lines."""

    async def body():
        for chunk in chunks:
            if isinstance(chunk, float):
                await asyncio.sleep(chunk)
            else:
                yield chunk.encode()

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body()))
    got = []
    async with httpx.AsyncClient(transport=transport) as client:
        async with client.stream("GET", "http://engine.test/") as response:
            async for line in paced_lines(response, between):
                got.append(line)
                await asyncio.sleep(reader_pause)
    return got


async def test_the_first_line_may_take_its_time():
    assert await lines_from([0.6, "one\n", "two\n"], between=0.2) == ["one", "two"]


async def test_a_silence_in_the_middle_of_a_reply_is_a_pause():
    with pytest.raises(ReplyPaused):
        await lines_from(["one\n", 3.0, "two\n"], between=0.2)


async def test_time_the_reader_spends_with_a_line_does_not_count_as_silence():
    assert await lines_from(["one\n", "two\n", "three\n"], between=0.2, reader_pause=0.5) == ["one", "two", "three"]


async def test_lines_that_keep_coming_are_never_a_pause_however_long_the_reply():
    chunks = ["start\n"] + [item for i in range(8) for item in (0.1, f"line {i}\n")]
    assert len(await lines_from(chunks, between=1.0)) == 9


async def test_a_silence_after_lines_that_came_in_time_is_still_caught():
    # The watch's first timer falls after a line arrived: it must look again at the new due time, not stop watching.
    chunks = ["one\n", 0.1, "two\n", 0.1, "three\n", 30.0, "never\n"]
    with pytest.raises(ReplyPaused):
        await asyncio.wait_for(lines_from(chunks, between=0.25), timeout=10)


async def test_the_watch_leaves_nothing_behind_it():
    errors = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
    # The timer armed while waiting for "two" fires while the reader is busy with it: nothing to watch then.
    assert await lines_from(["one\n", "two\n"], between=0.1, reader_pause=0.3) == ["one", "two"]
    assert errors == []


async def test_a_reader_cancelled_from_outside_is_cancelled_not_paused():
    reading = asyncio.ensure_future(lines_from(["one\n", 30.0, "two\n"], between=10.0))
    await asyncio.sleep(0.3)  # past the first line: the watch is on
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading


async def test_a_reader_cancelled_before_the_first_line_is_cancelled_not_paused():
    reading = asyncio.ensure_future(lines_from([30.0, "one\n"], between=0.1))
    await asyncio.sleep(0.2)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
