"""The live state of streaming replies: in memory by default, in Redis when REDIS_URL is set."""

import asyncio

import pytest

from specialists.services import live as live_module
from specialists.services.live import live


@pytest.fixture
def store():
    return live()


async def test_offsets_count_characters_not_bytes(store):
    message_id = 987_001
    try:
        assert await store.append(message_id, "Lumière ") == 0
        assert await store.append(message_id, "dorée ✨") == len("Lumière ")
        assert await store.append(message_id, "!") == len("Lumière dorée ✨")
        assert await store.get(message_id) == "Lumière dorée ✨!"
    finally:
        await store.discard(message_id)
    assert await store.get(message_id) is None


async def test_a_stored_interjection_wakes_its_watcher_without_waiting_for_a_poll(store, monkeypatch):
    conversation_id = 987_002
    monkeypatch.setattr(type(store), "poll_seconds", 60.0)
    before = await store.get_interrupt(conversation_id)
    watcher = asyncio.create_task(store.wait_interrupt(conversation_id, before))
    await asyncio.sleep(0.05)
    assert not watcher.done()
    await store.set_interrupt(conversation_id, before + 7)
    assert await asyncio.wait_for(watcher, 5) == before + 7
    assert conversation_id not in live_module._waiters._waiters  # nothing left behind once it stops


async def test_a_watcher_returns_at_once_for_an_interjection_already_stored(store):
    conversation_id = 987_003
    await store.set_interrupt(conversation_id, 10**9)
    assert await asyncio.wait_for(store.wait_interrupt(conversation_id, 5), 5) == 10**9

