"""Render chat fragments for the studio page and its websocket.

Every fragment comes from a template in templates/ (autoescaped: model text is
untrusted). Fragments pushed over the websocket carry hx-swap-oob.
"""

from django.conf import settings
from django.template.loader import render_to_string

from generations.services import custom_workflow, families
from generations.services.brief_card import card_options
from generations.services.brief_spec import BATCH_COUNT, LIMITS
from generations.services.cards import card_context
from generations.services.catalog import get_catalog
from specialists.models import PHASE_ORDER, Conversation, Message, Phase, Review, Role, artist_step
from specialists.personas import PERSONAS
from specialists.services import loop_card
from specialists.services.addressing import muted_roles
from specialists.services.brief_changes import brief_changes
from specialists.services.turns import TALKING, is_paused, latest_brief, turn_cue
from studio.core.models import Session

# Shown as a line from the studio: a result (only the team reads it differently) and the artist's requests.
AS_NOTICE = (Message.Kind.RESULT, Message.Kind.GO_ON, Message.Kind.RETAKE)


def message_context(message: Message, *, live_content: str | None = None) -> dict:
    content = message.content
    if message.status == Message.Status.STREAMING and live_content is not None:
        content = live_content
    kind = message.kind
    context = {
            "display_kind": Message.Kind.NOTICE if kind in AS_NOTICE else kind,
        "message": message,
        "content": content,
        "kind": kind,
        "persona": PERSONAS.get(message.role),
        "session": message.conversation.session,
    }
    if message.role == Role.USER:
        context["max_chars"] = settings.MESSAGE_MAX_CHARS
    if kind == Message.Kind.GENERATION:
        generation = message.generation
        context["generation"] = generation
        if generation is not None:
            context.update(card_context(generation))
    elif kind == Message.Kind.BRIEF:
        context["catalog"] = families.for_owner(get_catalog(), message.conversation.session.owner_id)
        context["brief"] = message.brief or {}
        context["options"] = card_options(context["catalog"], context["brief"])
        context["limits"] = LIMITS
        context["batch"] = BATCH_COUNT
        context["custom_workflow_note"] = custom_workflow.card_note(message.conversation.session)
        context["has_custom_workflow"] = bool(context["custom_workflow_note"])
        latest = latest_brief(message.conversation)
        context["live_brief"] = latest is None or latest.pk == message.pk
        context["changes"] = _revision_changes(message)
    elif kind == Message.Kind.REVIEW:
        context["review"] = Review.objects.filter(message=message).first()
    elif kind == Message.Kind.REFINE_LOOP:
        context.update(loop_card.card_context(message))
    return context


def team_context(session: Session) -> dict:
    muted = muted_roles(session.settings)
    models = session.model_assignments
    return {
        "team": [
            {"persona": persona, "muted": role in muted, "model": models.get(role, "")}
            for role, persona in PERSONAS.items()
        ]
    }


def _revision_changes(message: Message) -> list[str]:
    """What a revised brief changed against the one it revises."""
    revised = message.metadata.get("revises")
    before = message.conversation.messages.filter(pk=revised).first() if isinstance(revised, int) else None
    return brief_changes(before.brief or {}, message.brief or {}) if before is not None else []


def render_message(message: Message, *, append: bool = False, oob: bool = False, live_content=None) -> str:
    """One bubble; ``append`` adds it to #messages, ``oob`` replaces the existing one."""
    context = message_context(message, live_content=live_content)
    context["swap"] = "beforeend:#messages" if append else ("outerHTML" if oob else "")
    return render_to_string("specialists/_message.html", context)


def conversation_messages(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.select_related("conversation__session", "generation").order_by("order"))


def render_messages(
    conversation: Conversation, *, live: dict[int, str] | None = None, oob: bool = False, messages=None
) -> str:
    live = live or {}
    messages = conversation_messages(conversation) if messages is None else messages
    rendered = [render_message(m, live_content=live.get(m.pk)) for m in messages]
    return render_to_string("specialists/_messages.html", {"rendered": rendered, "oob": oob})


def render_token(message_id: int, text: str) -> str:
    return render_to_string("specialists/_token.html", {"message_id": message_id, "text": text})


def render_body(message_id: int, content: str) -> str:
    return render_to_string("specialists/_body.html", {"message_id": message_id, "content": content})


def phase_context(conversation: Conversation) -> dict:
    current = conversation.phase_index
    # The buttons ask the transition table, so they never offer a move it would refuse.
    moves = {
        "can_go_back": bool(artist_step(conversation.phase, "back")),
        "can_advance": bool(artist_step(conversation.phase, "advance")),
    }
    steps = [
        {
            "value": value,
            "label": Phase(value).label,
            "state": "done" if i < current else ("now" if i == current else ""),
        }
        for i, value in enumerate(PHASE_ORDER)
    ]
    return {"conversation": conversation, "steps": steps, **moves}


def render_phase(conversation: Conversation, *, oob: bool = True) -> str:
    return render_to_string("core/_phase_indicator.html", {**phase_context(conversation), "oob": oob})


def render_composer(session: Session, *, error: str = "", text: str = "", oob: bool = True) -> str:
    """The composer cleared after the artist's message: their words let the team go on, so it offers Pause."""
    context = {"session": session, "error": error, "text": text, "oob": oob, "paused": False}
    return render_to_string("core/_composer.html", context)


def render_pause_control(conversation: Conversation) -> str:
    return render_to_string("core/_pause_control.html", {"paused": is_paused(conversation), "control_oob": True})


def render_turn_cue(conversation: Conversation | None = None) -> str:
    """The composer's cue; without a conversation, the quiet one of a team that is talking."""
    cue = turn_cue(conversation) if conversation is not None else TALKING
    return render_to_string("core/_turn_cue.html", {"cue": cue, "oob": True})


def render_alert(text: str) -> str:
    return render_to_string("core/_alert.html", {"text": text})


def render_status(message_id: int, text: str) -> str:
    """The short note beside a streaming bubble's name: "thinking…", "waiting for the model…", or nothing."""
    return render_to_string("specialists/_status.html", {"message_id": message_id, "text": text})
