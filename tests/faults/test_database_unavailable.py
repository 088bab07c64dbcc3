"""The database drops every connection mid-run (PostgreSQL restarted, a failover, an admin's kill).

PostgreSQL only: `pg_terminate_backend` cuts the studio's connections while a reply streams or a
generation runs. The studio must say something went wrong, leave nothing 'streaming' or
'running' for ever, and the artist's next action must work (conn_health_checks reconnects).
On SQLite there is no server to lose, so these are skipped.
"""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from generations.models import Generation
from specialists.models import Message, Role
from tests.faults.conftest import make_session, messages_of_apart, stored_when
from tests.fixtures.generations import card_frames, finished_generations, session_in_review, with_outcome_told
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)

TEAM = [Role.STYLE, Role.COMPOSITION, Role.STORY]


def _generations_apart(session) -> list[Generation]:
    try:
        return list(with_outcome_told(Generation.objects.filter(session=session)).order_by("pk"))
    finally:
        connection.close()


generations_of_apart = sync_to_async(_generations_apart, thread_sensitive=False)


@pytest.fixture
def drop_connections(transactional_db, settings):
    """drop_connections() terminates every other connection to the test database; returns how many."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): SQLite has no server connection to lose")
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)

    def drop() -> int:
        with psycopg.connect(**params, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        return len(rows)

    yield drop
    # This thread's own connection was cut too: drop it so the test database can be flushed.
    connection.close_if_unusable_or_obsolete()
    if connection.connection is not None and not connection.is_usable():
        connection.close()


async def test_a_reply_cut_off_by_the_database_is_settled_and_the_next_message_is_answered(
    open_socket, alice, fake_ollama, drop_connections
):
    fake_ollama.token_delay = 0.03
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": "a lighthouse keeper's cat at dusk"})
    await view.drain(socket, until=lambda v: any(len(body) > 20 for i, body in v.bodies.items() if i != min(v.bodies)))

    assert await asyncio.to_thread(drop_connections) >= 1
    # The studio meets the outage while the artist reads on: speaking at once would make it an interjection.
    await view.drain(socket, quiet=1.5)

    # The artist carries on; the studio must take it from here.
    await socket.send_json_to({"action": "message", "text": "and make the cat ginger"})
    stored = await stored_when(
        session,
        lambda stored: (
            any(m.content == "and make the cat ginger" for m in stored)
            and [m.role for m in stored if m.status == Message.Status.COMPLETE][-3:] == TEAM
        ),
        timeout=40,
        reader=messages_of_apart,
    )
    assert not [m for m in stored if m.status == Message.Status.STREAMING], "a reply was left typing for ever"
    cut = stored[1]
    assert cut.role == Role.STYLE and cut.content, "the words said before the outage were lost"
    assert cut.status in (Message.Status.INTERRUPTED, Message.Status.FAILED)
    reason = cut.metadata.get("interrupted_by") or cut.metadata.get("error")
    assert reason, "the reply stopped without a reason"
    await view.caught_up(socket, stored, mentioning=(reason,))  # fails here if the artist was never told
    assert view.bodies[stored[-1].pk] == stored[-1].content
    await socket.disconnect()


async def test_a_generation_cut_off_by_the_database_ends_and_the_conversation_carries_on(
    open_socket, alice, fake_comfyui, fake_ollama, settings, tmp_path, drop_connections
):
    settings.GENERATION_JOBS_IN_PROCESS = True
    settings.MEDIA_ROOT = tmp_path / "media"
    fake_comfyui.step_delay = 0.2
    session = await session_in_review(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)
    await socket.send_json_to({"action": "message", "text": "generate"})
    deadline = time.monotonic() + 10
    while fake_comfyui.running_prompt_id() is None:
        assert time.monotonic() < deadline, "the generation never reached ComfyUI"
        await asyncio.sleep(0.05)

    assert await asyncio.to_thread(drop_connections) >= 1
    [first] = await finished_generations(session, 1, timeout=60, reader=generations_of_apart)
    assert first.status in (Generation.Status.COMPLETE, Generation.Status.FAILED)
    if first.status == Generation.Status.FAILED:
        assert first.error
    await view.drain(socket, until=lambda v: card_frames(v, first, first.status), timeout=20)

    # The artist carries on talking to the team about the result.
    await socket.send_json_to({"action": "message", "text": "warmer light on the cat, please"})
    stored = await stored_when(
        session,
        lambda stored: (
            any(m.content == "warmer light on the cat, please" for m in stored)
            and stored[-1].role != Role.USER
            and stored[-1].status == Message.Status.COMPLETE
            and not any(m.status == Message.Status.STREAMING for m in stored)
        ),
        timeout=40,
        reader=messages_of_apart,
    )
    asked = next(i for i, m in enumerate(stored) if m.content == "warmer light on the cat, please")
    assert [m for m in stored[asked + 1 :] if m.role in TEAM and m.status == Message.Status.COMPLETE]
    await socket.disconnect()
