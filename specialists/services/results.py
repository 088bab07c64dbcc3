"""What the conversation does when a generation ends."""

from studio.core.models import Conversation, Phase, Role
from studio.core.services import notify
from studio.core.services.broadcast import kick_sync


def on_generation_finished(generation) -> None:
    conversation: Conversation | None = generation.conversation
    if conversation is None:
        return
    still_running = conversation.generations.filter(status__in=["queued", "running"]).exclude(pk=generation.pk)
    if generation.status == "complete":
        conversation.set_phase(Phase.COMPLETE)
        text = f"Generation #{generation.pk} is ready — Lens is taking a look."
        metadata = {"kind": "notice", "turn": True, "result": True, "generation_id": generation.pk}
    else:
        if not still_running.exists():
            conversation.set_phase(Phase.REVIEW)
        if generation.status == "cancelled":
            text = f"Generation #{generation.pk} was cancelled. The brief is still here: edit it and generate again."
        else:
            text = (
                f"Generation #{generation.pk} failed: {generation.error or 'no reason given'} "
                "The brief is still here: fix what is needed and generate again."
            )
        metadata = {"kind": "notice", "generation_id": generation.pk}
    notice = conversation.append_message(Role.SYSTEM, text, metadata=metadata)
    notify.message_added_sync(conversation.session_id, notice.pk)
    notify.phase_changed_sync(conversation.pk)
    kick_sync(conversation.session_id)
