"""Ollama going away: down before a turn, killed mid-reply, a model that is not installed.

Each case checks what the artist reads (an actionable reason in the chat), that nothing said so far
is lost, and that the conversation carries on ("Try again") once the engine is back.
"""

import pytest

from specialists.models import Message, Role
from tests.faults.conftest import frames_mentioning, make_session, messages_of, stored_when
from tests.fixtures.websockets import ChatView

pytestmark = pytest.mark.django_db(transaction=True)

TEAM = [Role.STYLE, Role.COMPOSITION, Role.STORY]


def completed_roles(stored):
    return [m.role for m in stored if m.status == Message.Status.COMPLETE and m.role in TEAM]


async def test_ollama_down_at_the_start_of_a_turn_says_how_to_start_it_and_retry_resumes(
    open_socket, alice, ollama_process
):
    ollama = ollama_process()  # its port is reserved; nothing listens yet
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)

    await socket.send_json_to({"action": "message", "text": "a lighthouse keeper's cat at dusk"})
    stored = await stored_when(session, lambda stored: any(m.status == Message.Status.FAILED for m in stored))
    await view.caught_up(socket, stored, mentioning=(f"Ollama is not reachable at {ollama.url}",))
    assert [m.role for m in stored] == [Role.USER, Role.STYLE]
    assert stored[0].content == "a lighthouse keeper's cat at dusk"
    failed = stored[1]
    assert failed.status == Message.Status.FAILED
    assert f"Ollama is not reachable at {ollama.url}" in failed.metadata["error"]
    assert "ollama serve" in failed.metadata["error"]
    assert frames_mentioning(view, f"Ollama is not reachable at {ollama.url}"), "the artist was not told"

    ollama.start()  # the artist starts Ollama and presses "Try again" right away
    await socket.send_json_to({"action": "retry"})
    stored = await stored_when(session, lambda stored: completed_roles(stored) == TEAM)
    await view.caught_up(socket, stored)
    assert stored[0].content == "a lighthouse keeper's cat at dusk"
    for message in stored:
        if message.status == Message.Status.COMPLETE:
            assert view.bodies[message.pk] == message.content
    await socket.disconnect()


async def test_ollama_killed_mid_reply_keeps_the_partial_text_and_retry_resumes_once_it_is_back(
    open_socket, alice, ollama_process
):
    ollama = ollama_process(token_delay=0.05).start()
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)

    await socket.send_json_to({"action": "message", "text": "a lighthouse keeper's cat at dusk"})
    await view.drain(socket, until=lambda v: any(len(body) > 20 for i, body in v.bodies.items() if i != min(v.bodies)))
    ollama.kill()
    stored = await stored_when(session, lambda stored: stored[-1].status != Message.Status.STREAMING)
    await view.caught_up(socket, stored, mentioning=("Ollama stopped answering in the middle of a reply",))
    assert [m.role for m in stored] == [Role.USER, Role.STYLE]
    cut = stored[1]
    assert cut.status in (Message.Status.FAILED, Message.Status.INTERRUPTED)
    assert len(cut.content) > 20, "the words that had arrived were lost"
    assert view.bodies[cut.pk] == cut.content
    reason = cut.metadata["error"]
    assert "Ollama stopped answering in the middle of a reply" in reason and "try again" in reason
    assert frames_mentioning(view, "Ollama stopped answering in the middle of a reply")

    ollama.start()
    await socket.send_json_to({"action": "retry"})
    stored = await stored_when(session, lambda stored: completed_roles(stored) == TEAM)
    await view.caught_up(socket, stored)
    assert view.bodies[stored[-1].pk] == stored[-1].content
    assert (await messages_of(session))[1].content == cut.content, "retrying overwrote the partial reply"
    await socket.disconnect()


async def test_a_dropped_connection_mid_reply_fails_that_reply_only_and_retry_resumes(
    open_socket, alice, fake_ollama
):
    fake_ollama.fail_next("drop", after_tokens=4)
    session = await make_session(alice)
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)

    await socket.send_json_to({"action": "message", "text": "a heron at dawn"})
    stored = await stored_when(session, lambda stored: any(m.status == Message.Status.FAILED for m in stored))
    await view.caught_up(socket, stored)
    cut = stored[1]
    assert cut.status == Message.Status.FAILED and cut.content
    assert view.bodies[cut.pk] == cut.content
    assert "try again" in cut.metadata["error"]

    await socket.send_json_to({"action": "retry"})
    await stored_when(session, lambda stored: completed_roles(stored) == TEAM)
    await socket.disconnect()


async def test_a_model_that_is_not_installed_names_the_pull_command_and_works_once_pulled(
    open_socket, alice, fake_ollama
):
    session = await make_session(alice, model_assignments={"style": "mistral-nemo"})
    socket = await open_socket(alice, session.pk)
    view = ChatView()
    await view.opened(socket)

    await socket.send_json_to({"action": "message", "text": "a heron at dawn"})
    stored = await stored_when(session, lambda stored: any(m.status == Message.Status.FAILED for m in stored))
    await view.caught_up(socket, stored, mentioning=("run `ollama pull mistral-nemo`",))
    assert [m.role for m in stored] == [Role.USER, Role.STYLE]
    assert stored[1].status == Message.Status.FAILED
    assert "ollama pull mistral-nemo" in stored[1].metadata["error"]
    assert frames_mentioning(view, "run `ollama pull mistral-nemo`")
    assert fake_ollama.chat_requests() == [], "the studio asked for a model Ollama does not have"

    fake_ollama.models = [*fake_ollama.models, "mistral-nemo"]  # the artist ran `ollama pull mistral-nemo`
    await socket.send_json_to({"action": "retry"})
    await stored_when(session, lambda stored: completed_roles(stored) == TEAM)
    assert fake_ollama.chat_requests()[0]["json"]["model"] == "mistral-nemo"
    await socket.disconnect()
