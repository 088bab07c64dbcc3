"""The web process dies mid-conversation (deploy, crash, Ctrl-C) and the artist reconnects.

A reply that was streaming is left 'streaming' in the database with its run's claim on the
conversation. The next connection must settle it as interrupted, keeping its text, tell the artist
why, and let the team carry on with whoever had not spoken yet.
"""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from specialists.models import Conversation, Message, Role
from specialists.services import runs, supervisor
from specialists.services.live import live
from tests.faults.conftest import frames_mentioning, make_session, messages_of, stored_when
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)

RESTARTED = "The studio restarted while this reply was streaming."
LATER_SPEAKERS = [Role.COMPOSITION, Role.STORY]


@sync_to_async
def leave_an_orphan(session, *, claimed_seconds_ago: float) -> Message:
    """What a process that died mid-reply leaves behind: a streaming reply and its run's claim."""
    conversation = Conversation.objects.current(session)
    orphan = conversation.append_message(
        Role.STYLE, "Luna here. Amber dusk", status=Message.Status.STREAMING, kind="chat"
    )
    claimed = timezone.now() - timedelta(seconds=claimed_seconds_ago)
    Conversation.objects.filter(pk=conversation.pk).update(running_since=claimed)
    return orphan


def carried_on(stored) -> bool:
    later = [m.role for m in stored[2:] if m.status == Message.Status.COMPLETE]
    return later == LATER_SPEAKERS


@pytest.mark.parametrize("live_text_survived", [True, False], ids=["live-text-in-redis", "live-text-lost"])
async def test_a_reply_left_streaming_is_interrupted_with_its_text_and_the_team_carries_on(
    open_socket, alice, fake_ollama, live_text_survived
):
    session = await make_session(alice, idea="a lighthouse keeper's cat at dusk")
    orphan = await leave_an_orphan(session, claimed_seconds_ago=runs.STALE_AFTER.total_seconds() + 5)
    if live_text_survived:  # with REDIS_URL the live buffer outlives the process; flushed text lags behind it
        await live().append(orphan.pk, "Luna here. Amber dusk light, a low camera")
    expected = "Luna here. Amber dusk light, a low camera" if live_text_survived else "Luna here. Amber dusk"

    socket = await open_socket(alice, session.pk)
    view = ChatView()
    stored = await stored_when(session, carried_on)
    await view.caught_up(socket, stored, mentioning=(RESTARTED,))

    recovered = stored[1]
    assert recovered.pk == orphan.pk
    assert recovered.status == Message.Status.INTERRUPTED
    assert recovered.content == expected
    assert view.bodies[orphan.pk] == expected
    assert frames_mentioning(view, RESTARTED), "the artist was not told why the reply stopped"
    assert not [m for m in stored if m.status == Message.Status.STREAMING]
    for message in stored[2:]:
        assert view.bodies[message.pk] == message.content
    await socket.disconnect()


async def test_a_run_cancelled_mid_reply_leaves_an_orphan_the_restarted_studio_settles(open_socket, alice, fake_ollama):
    fake_ollama.token_delay = 0.04
    session = await make_session(alice)
    first = await open_socket(alice, session.pk)
    before = ChatView()
    await before.opened(first)
    await first.send_json_to({"action": "message", "text": "a lighthouse keeper's cat at dusk"})
    await before.drain(first, until=lambda v: any(len(body) > 15 for i, body in v.bodies.items() if i != min(v.bodies)))

    # The process stops: its event loop cancels the run, as daphne's shutdown does.
    conversation = await sync_to_async(lambda: Conversation.objects.current(session))()
    task = runs._tasks[conversation.pk]
    stopping = supervisor._running[asyncio.get_running_loop()]
    task.cancel()
    stopping.cancel()
    await asyncio.wait({task, stopping})
    await first.disconnect()
    [_, left] = await messages_of(session)
    assert left.status == Message.Status.STREAMING
    seen = before.bodies[left.pk]

    # The studio starts again (its supervisor with it) and the artist's page reconnects.
    second = await open_socket(alice, session.pk)
    after = ChatView()
    stored = await stored_when(session, carried_on)
    await after.caught_up(second, stored, mentioning=(RESTARTED,))
    recovered = stored[1]
    assert recovered.pk == left.pk and recovered.status == Message.Status.INTERRUPTED
    assert recovered.content.startswith(seen), "text the artist had already read was lost"
    assert after.bodies[left.pk] == recovered.content
    assert frames_mentioning(after, RESTARTED)
    await second.disconnect()


async def test_a_claim_of_a_process_that_just_died_is_taken_over_once_it_goes_stale(
    open_socket, alice, fake_ollama, monkeypatch
):
    # Shorter than in production (12 s) so the test is quick; the mechanism is the same.
    monkeypatch.setattr(runs, "STALE_AFTER", timedelta(seconds=1.5))
    monkeypatch.setattr(runs, "HEARTBEAT_SECONDS", 0.3)
    session = await make_session(alice, idea="a lighthouse keeper's cat at dusk")
    orphan = await leave_an_orphan(session, claimed_seconds_ago=0)  # it died a moment ago

    socket = await open_socket(alice, session.pk)  # the artist reloads at once; nobody else will come
    view = ChatView()
    stored = await stored_when(session, carried_on, timeout=15)
    await view.caught_up(socket, stored, mentioning=(RESTARTED,))
    assert stored[1].pk == orphan.pk and stored[1].status == Message.Status.INTERRUPTED
    assert stored[1].content == "Luna here. Amber dusk"
    await socket.disconnect()
