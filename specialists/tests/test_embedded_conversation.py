"""A whole conversation on the real built-in model (SmolLM2-135M on the CPU): from an idea to a brief."""

import asyncio
import re
import time

import pytest
from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Phase, Role
from specialists.services import runs
from studio.core.models import Session

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]

IDEA = "a red fox asleep under an old lighthouse in the snow"
LABEL = re.compile(r"^\s*\[?(Luna|Frame|Saga|Pixel|Lens|Artist)\]?\s*:", re.IGNORECASE)


@sync_to_async
def start(user) -> Conversation:
    session = Session.objects.create(owner=user, title="Fox", settings={"rounds": {"ideation": 1, "refinement": 1}})
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, IDEA)
    return conversation


@sync_to_async
def state(conversation: Conversation) -> tuple[str, list[Message]]:
    conversation.refresh_from_db()
    return conversation.phase, list(conversation.messages.order_by("order"))


async def test_the_built_in_model_carries_an_idea_to_a_brief_that_keeps_its_nouns(alice, fake_comfyui, settings):
    settings.LLM_BACKEND = "embedded"
    conversation = await start(alice)
    began = time.monotonic()
    phase, messages = await state(conversation)
    while phase != Phase.REVIEW or any(m.status == Message.Status.STREAMING for m in messages):
        assert time.monotonic() - began < 900, f"still in {phase} after 15 minutes"
        await asyncio.wait_for(runs.run_pending(conversation.pk), 600)
        phase, messages = await state(conversation)
        failed = [m for m in messages if m.status == Message.Status.FAILED]
        assert not failed, failed[0].metadata.get("error")
        if phase == Phase.REVIEW and not any(m.status == Message.Status.STREAMING for m in messages):
            break
    took = time.monotonic() - began
    replies = [m for m in messages if m.role not in (Role.USER, Role.SYSTEM) and m.kind == Message.Kind.CHAT]
    assert len(replies) >= 6 and all(m.content.strip() for m in replies)
    assert not [m.content for m in replies if LABEL.match(m.content)], "a reply still starts with a speaker label"
    brief = next(m for m in messages if m.kind == Message.Kind.BRIEF).brief
    prompt = brief["positive_prompt"].lower()
    assert "fox" in prompt and ("lighthouse" in prompt or "snow" in prompt), prompt
    assert brief["width"] % 8 == 0 and 1 <= brief["steps"] <= 150 and brief["checkpoint"] in fake_comfyui.checkpoints
    # The chat said once, before the first reply, that the built-in model speaks, and what would do better.
    announced = [m for m in messages if m.kind == Message.Kind.NOTICE and "built-in model (SmolLM2-135M)" in m.content]
    assert len(announced) == 1 and "ollama pull" in announced[0].content
    assert announced[0].order < replies[0].order
    assert all(m.metadata.get("backend") == "embedded" for m in replies)
    print(f"\nembedded conversation: {len(replies)} replies and a brief in {took:.0f} s")
