"""One short question before the first ideas when the idea leaves a decision open (subject, medium, aspect)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Role
from specialists.services import actions, runs
from specialists.services.open_decisions import ASPECT, MEDIUM, SUBJECT, open_decision
from specialists.services.turns import next_step, turn_cue
from studio.core.models import Session


@pytest.mark.parametrize(
    ("idea", "decision"),
    [
        ("something cool", SUBJECT),
        ("a fox", SUBJECT),
        ("make a beautiful picture of the thing", SUBJECT),
        ("a fox in the snow", MEDIUM),
        ("a fox in the snow at dawn, 16:9", MEDIUM),
        ("a watercolour fox in the snow", ASPECT),
        ("a photo of a fox in the snow", ASPECT),
        ("a watercolour fox in the snow, portrait for my phone", None),
        ("oil painting of a lighthouse, wide shot", None),
        ("3D render of a robot, 1024x768", None),
    ],
)
def test_it_finds_the_first_decision_the_idea_leaves_open(idea, decision):
    assert open_decision(idea) == decision


pytestmark_db = pytest.mark.django_db(transaction=True)


@sync_to_async
def start(user, idea, **settings_):
    session = Session.objects.create(owner=user, title="Fox", settings=settings_)
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, idea)
    return conversation


@sync_to_async
def stored(conversation):
    return list(conversation.messages.order_by("order"))


async def run(conversation):
    await asyncio.wait_for(runs.run_pending(conversation.pk), 30)


@pytestmark_db
async def test_luna_asks_about_the_medium_and_the_team_waits_for_the_answer(alice, fake_ollama, settings):
    settings.STUDIO_CLARIFY = True
    conversation = await start(alice, "a fox in the snow")
    await run(conversation)
    idea, question = await stored(conversation)
    assert question.role == Role.STYLE and question.kind == Message.Kind.QUESTION
    # the fake model answers with a statement, not a question: the studio asks its own plain question
    assert question.content == MEDIUM.question
    assert await sync_to_async(next_step)(conversation) is None
    cue = await sync_to_async(turn_cue)(conversation)
    assert cue.text == "Your turn — Luna asked you a question: answer it, or move on to Refinement."

    await actions.post_message(conversation.session, alice, "a watercolour, please")
    await run(conversation)
    after = (await stored(conversation))[3:]
    assert [m.role for m in after] == [Role.STYLE, Role.COMPOSITION, Role.STORY]  # the team's ideas, no 2nd question
    assert all(m.kind == Message.Kind.CHAT for m in after)


@pytestmark_db
async def test_a_models_own_short_question_is_kept(alice, fake_ollama, settings):
    settings.STUDIO_CLARIFY = True
    fake_ollama.responder = lambda body: "Is this fox for a phone screen or a wide banner?"
    conversation = await start(alice, "a watercolour fox in the snow")
    await run(conversation)
    question = (await stored(conversation))[1]
    assert question.role == Role.COMPOSITION and question.content == "Is this fox for a phone screen or a wide banner?"


@pytestmark_db
async def test_the_session_setting_turns_the_question_off(alice, fake_ollama, settings):
    settings.STUDIO_CLARIFY = True
    conversation = await start(alice, "a fox in the snow", clarify=False)
    await run(conversation)
    replies = (await stored(conversation))[1:]
    assert [m.kind for m in replies] == [Message.Kind.CHAT] * 3


@pytestmark_db
async def test_an_idea_that_decides_everything_gets_no_question(alice, fake_ollama, settings):
    settings.STUDIO_CLARIFY = True
    conversation = await start(alice, "a watercolour fox in the snow, portrait for my phone")
    await run(conversation)
    assert not any(m.kind == Message.Kind.QUESTION for m in await stored(conversation))
