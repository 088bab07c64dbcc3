"""One orchestrator run per conversation: a wake that comes while the run is ending is not lost."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Role
from specialists.services import notify, runs
from studio.core.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def start(user):
    session = Session.objects.create(owner=user, title="Fox")
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, "a fox in the snow")
    return conversation


@sync_to_async
def roles(conversation):
    return [m.role for m in conversation.messages.order_by("order")]


async def test_words_that_arrive_while_the_run_ends_are_answered(alice, fake_ollama, monkeypatch):
    conversation = await start(alice)
    told = notify.turn_changed
    arrived = []

    async def the_artist_speaks_as_the_run_ends(conversation_id):
        # As the run says the team waits, the artist's words are stored and the supervisor is woken: the
        # run is still going, so ensure_running finds it and starts nothing.
        if not arrived:
            arrived.append(await sync_to_async(conversation.append_message)(Role.USER, "Saga, who lives there?"))
            assert runs.ensure_running(conversation_id) is runs._tasks[conversation_id]
        await told(conversation_id)

    monkeypatch.setattr(notify, "turn_changed", the_artist_speaks_as_the_run_ends)
    task = runs.ensure_running(conversation.pk)
    await asyncio.wait_for(task, 30)
    assert await roles(conversation) == [Role.USER, Role.STYLE, Role.COMPOSITION, Role.STORY, Role.USER, Role.STORY], (
        "the words that came as the run ended were never answered"
    )
