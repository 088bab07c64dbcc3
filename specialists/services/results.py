"""What the conversation does when the render farm starts or ends a generation, and Refine on a result."""

from django.db import transaction

from generations.models import Generation
from specialists.models import Actor, Conversation, Message, Phase, Role
from specialists.services import notify, refine_loop, supervisor


def on_generation_started(generation: Generation, warnings: list[str], announce: bool) -> None:
    """The generation's card joins the chat and the talk waits for it; in the transaction that created it."""
    conversation = Conversation.objects.current(generation.session)
    message = conversation.append_message(
        Role.SYSTEM, "", kind=Message.Kind.GENERATION, generation=generation, metadata={"warnings": warnings}
    )
    conversation.move_to(Phase.GENERATING, by=Actor.ARTIST)
    generation.chat_message = message  # for a caller that announces the card itself
    if announce:

        def tell() -> None:
            notify.message_added_sync(conversation.session_id, message.pk)
            notify.phase_changed_sync(conversation.pk)

        transaction.on_commit(tell)


def _conversation_of(generation: Generation) -> Conversation | None:
    card = generation.chat_messages.select_related("conversation__session").order_by("-pk").first()
    return card.conversation if card is not None else None


def on_generation_finished(generation: Generation) -> None:
    conversation = _conversation_of(generation)
    if conversation is None:
        return
    still_running = conversation.generations().filter(status__in=Generation.ACTIVE).exclude(pk=generation.pk)
    if generation.status == Generation.Status.COMPLETE:
        conversation.move_to(Phase.COMPLETE, by=Actor.RESULT)
        text = f"Generation #{generation.pk} is ready — Lens is taking a look."
        kind, opens_turn = Message.Kind.RESULT, True
    else:
        if not still_running.exists():
            conversation.move_to(Phase.REVIEW, by=Actor.RESULT)
        if generation.status == Generation.Status.CANCELLED:
            text = f"Generation #{generation.pk} was cancelled. The brief is still here: edit it and generate again."
        else:
            text = (
                f"Generation #{generation.pk} failed: {generation.error or 'no reason given'} "
                "The brief is still here: fix what is needed and generate again."
            )
        kind, opens_turn = Message.Kind.NOTICE, False
    notice = conversation.append_message(Role.SYSTEM, text, kind=kind, opens_turn=opens_turn, generation=generation)
    loop = refine_loop.on_result(conversation, generation, notice if kind == Message.Kind.RESULT else None)
    for message_id in (notice.pk, loop.card_id, loop.notice_id):
        if message_id is not None:
            notify.message_added_sync(conversation.session_id, message_id)  # added, or redrawn where shown
    notify.phase_changed_sync(conversation.pk)
    supervisor.wake_sync(conversation.pk)


def refine(generation: Generation) -> None:
    """Back to refinement with this result as the team's context."""
    conversation = Conversation.objects.current(generation.session)
    text = f"Let's refine this result (generation #{generation.pk}): keep what works, fix what doesn't."
    with transaction.atomic():
        conversation.move_to(Phase.REFINEMENT, by=Actor.ARTIST)
        message = conversation.append_message(Role.USER, text, generation=generation)
    notify.message_added_sync(conversation.session_id, message.pk)
    notify.phase_changed_sync(conversation.pk)
    supervisor.wake_sync(conversation.pk)
