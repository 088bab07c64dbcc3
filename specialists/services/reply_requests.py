"""The artist's hand on single replies: go on from a cut reply, another take of a reply, edit their own last words.

Each is stored as a message that opens a turn (a request, or the edited words), so what happens next is derived
from the conversation like any other turn. What is replaced stays in the chat, folded, and leaves what every
specialist hears.
"""

from dataclasses import dataclass, field

from django.db import transaction

from specialists.models import SPECIALIST_ROLES, Conversation, Message, Role
from specialists.personas import PERSONAS

# Kinds of reply that can be taken again or gone on from: the specialists' own words, not briefs or reviews.
TALK_KINDS = (Message.Kind.CHAT, Message.Kind.QUESTION)
SETTLED = (Message.Status.COMPLETE, Message.Status.INTERRUPTED)
GO_ON_TAIL_CHARS = 120

NOT_A_REPLY = "That is not a reply a specialist can take again here."
NOT_THE_LATEST = "Only replies since your last message can be taken again: say what you would like instead."
NOT_CUT = "That reply was not cut short: ask for another take, or say what you would like."
NOT_EDITABLE = "Only your last message can be edited, and only before anything was rendered from it."


class RequestRefused(Exception):
    """The request cannot be carried out; the message says why and what to do."""


@dataclass
class Requested:
    """What the request put in the chat: the message that opens the turn, and the messages it folded."""

    opening: Message
    folded: list[int] = field(default_factory=list)


def _reply(conversation: Conversation, message_id) -> Message:
    reply = (
        conversation.messages.filter(pk=message_id, role__in=SPECIALIST_ROLES, kind__in=TALK_KINDS)
        .filter(status__in=SETTLED, superseded_by__isnull=True)
        .first()
        if str(message_id).isdigit()
        else None
    )
    if reply is None:
        raise RequestRefused(NOT_A_REPLY)
    if conversation.messages.filter(role=Role.USER, order__gt=reply.order).exists():
        raise RequestRefused(NOT_THE_LATEST)
    return reply


@transaction.atomic
def go_on(conversation: Conversation, message_id) -> Requested:
    """The specialist whose reply stopped at the length limit goes on from there, in a new bubble."""
    reply = _reply(conversation, message_id)
    if not reply.metadata.get("cut"):
        raise RequestRefused(NOT_CUT)
    name = PERSONAS[reply.role].name
    opening = conversation.append_message(
        Role.SYSTEM, f"You asked {name} to go on.", kind=Message.Kind.GO_ON, opens_turn=True, asks=reply
    )
    return Requested(opening)


@transaction.atomic
def retake(conversation: Conversation, message_id) -> Requested:
    """Another take of a reply: the old one folds away; the specialist answers the same moment again."""
    reply = _reply(conversation, message_id)
    name = PERSONAS[reply.role].name
    opening = conversation.append_message(
        Role.SYSTEM, f"You asked {name} for another take.", kind=Message.Kind.RETAKE, opens_turn=True, asks=reply
    )
    Message.objects.filter(pk=reply.pk).update(superseded_by=opening)
    return Requested(opening, [reply.pk])


def editable(conversation: Conversation, message_id) -> Message:
    """The artist's last message, while nothing has been rendered since it."""
    message = (
        conversation.messages.filter(pk=message_id, role=Role.USER, superseded_by__isnull=True).first()
        if str(message_id).isdigit()
        else None
    )
    later = conversation.messages.filter(order__gt=message.order) if message is not None else None
    if message is None or later.filter(role=Role.USER).exists() or later.filter(generation__isnull=False).exists():
        raise RequestRefused(NOT_EDITABLE)
    return message


def fold_edited(conversation: Conversation, edited: Message, replacement: Message) -> list[int]:
    """The edited words and the team's answers to them fold away behind the new words."""
    answers = conversation.messages.filter(
        order__gt=edited.order, order__lt=replacement.order, role__in=SPECIALIST_ROLES, kind__in=TALK_KINDS
    )
    folded = [edited.pk, *answers.values_list("pk", flat=True)]
    Message.objects.filter(pk__in=folded).update(superseded_by=replacement)
    return folded


def go_on_cue(conversation: Conversation, anchor_id: int) -> str:
    """What the specialist is asked when going on from a cut reply."""
    request = conversation.messages.select_related("asks").filter(pk=anchor_id).first()
    cut = request.asks.content.strip() if request is not None and request.asks is not None else ""
    tail = cut[-GO_ON_TAIL_CHARS:]
    return (
        f"Your last reply was cut off at the length limit; it ended: “…{tail}”. Go on from exactly there, "
        "in your own voice, without repeating anything you already said and without a name in front."
    )
