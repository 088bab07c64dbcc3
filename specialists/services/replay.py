"""Re-run a stored conversation's user messages through the current models."""

from asgiref.sync import sync_to_async

from specialists.models import Conversation, Message, Role
from specialists.personas import PERSONAS
from specialists.services import actions, runs


@sync_to_async
def _start(conversation_id: int, overrides: dict):
    original = Conversation.objects.select_related("session__owner").get(pk=conversation_id)
    user_texts = list(original.messages.filter(role=Role.USER).order_by("order").values_list("content", flat=True))
    replay = Conversation.objects.create(session=original.session, replayed_from=original, model_overrides=overrides)
    return original, replay, user_texts


@sync_to_async
def _new_replies(conversation_id: int, after_order: int) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, order__gt=after_order)
        .exclude(role=Role.USER)
        .order_by("order")
    )


async def replay_conversation(conversation_id: int, overrides: dict | None = None, report=print) -> Conversation:
    original, replay, user_texts = await _start(conversation_id, overrides or {})
    session = original.session
    report(f"Replaying conversation {original.pk} ({len(user_texts)} user messages) into conversation {replay.pk}")
    last_order = 0
    for number, text in enumerate(user_texts, start=1):
        report(f"[{number}/{len(user_texts)}] artist: {text[:70]}")
        posted = await actions.post_message(session, session.owner, text, replaying=True)
        last_order = posted.message.order
        await runs.run_pending(replay.pk)
        for message in await _new_replies(replay.pk, last_order):
            name = PERSONAS[message.role].name if message.role in PERSONAS else "Studio"
            detail = message.metadata.get("error") or f"{len(message.content)} chars"
            report(f"    {name}: {message.status} ({message.metadata.get('model', '-')}, {detail})")
            last_order = message.order
    return replay
