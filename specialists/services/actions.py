"""What the artist can do in the studio: talk, interject, move between phases, pause, retry."""

import re
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from generations.services.brief import BriefError
from generations.services.generate import start_generation
from specialists.models import Actor, Conversation, Message, Phase, Role, artist_step
from specialists.services import llm, notify, orchestrator, refine_loop, reply_requests
from specialists.services.addressing import address_of, addressed_by, muted_roles
from specialists.services.live import live
from specialists.services.phases import plan_for
from specialists.services.turns import current_turn, is_paused, latest_brief
from studio.core.models import Session

GENERATE_INTENT = re.compile(
    r"^\s*(please\s+)?(generate|render|create it|make it( so)?|go( ahead)?|ship it|let'?s (go|do it|generate|render)"
    r"|do it|looks (good|great|right)[,.!]*\s*(generate|go)?)\b",
    re.IGNORECASE,
)


# Where the brief is on the table: there any "go ahead" renders it. Elsewhere only the word itself does.
BRIEF_PHASES = (Phase.REVIEW, Phase.GENERATING, Phase.COMPLETE)
EXPLICIT_GENERATE = re.compile(r"^\s*(please\s+)?(generate|render)\b", re.IGNORECASE)
NO_BRIEF_YET = (
    "There is no brief to generate yet: Pixel writes it in Synthesis, after the team has talked it through. "
    "Press Next phase to get there sooner."
)


class Rejected(Exception):
    """The action was refused; the message says why and what to do."""


@dataclass
class Posted:
    message: Message
    phase_changed: bool = False
    # What saying "generate" started: the card's message, or why nothing could start (the words are kept).
    generation_message_id: int | None = None
    refusal: str = ""
    was_paused: bool = False
    loop_card_id: int | None = None  # an auto-refine loop the artist's words paused
    folded: list[int] = field(default_factory=list)  # what an edit replaced


def validate_text(text) -> str:
    if not isinstance(text, str):
        raise Rejected("Send your message as text.")
    text = text.strip()
    if not text:
        raise Rejected("Type a message first.")
    if "\x00" in text:
        raise Rejected(
            "That message contains a NUL character, which the studio cannot store. Remove it and send again."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(
            "That message contains a broken character (half of an emoji?) that cannot be stored. "
            "Retype that part and send again."
        ) from None
    if len(text) > settings.MESSAGE_MAX_CHARS:
        raise Rejected(
            f"That message is {len(text):,} characters; the limit is {settings.MESSAGE_MAX_CHARS:,}. "
            "Shorten it or split it in two."
        )
    return text


@sync_to_async
def _post(session_id: int, text: str, user, *, replaying: bool = False, replaces=None) -> Posted:
    with transaction.atomic():
        session = Session.objects.select_for_update().get(pk=session_id)
        conversation = Conversation.objects.current(session)
        try:
            edited = reply_requests.editable(conversation, replaces) if replaces is not None else None
        except reply_requests.RequestRefused as exc:
            raise Rejected(str(exc)) from exc
        was_paused = is_paused(conversation)
        phase = conversation.phase
        brief_to_generate = None
        changed = False
        asked = bool(GENERATE_INTENT.search(text)) and not replaying
        live_brief = latest_brief(conversation) if asked else None
        # Asked for a render with no brief written yet: the words still reach the team, and the artist is told.
        refusal = NO_BRIEF_YET if asked and live_brief is None and EXPLICIT_GENERATE.search(text) else ""
        if live_brief is not None and (phase in BRIEF_PHASES or EXPLICIT_GENERATE.search(text)):
            brief_to_generate = live_brief
        elif edited is not None or address_of(text).only:
            pass  # an edit stands where its words stood; a question to one specialist is an aside
        elif phase == Phase.REVIEW:
            # Pixel revises the brief with the feedback
            changed = conversation.move_to(Phase.SYNTHESIS, by=Actor.ARTIST)
        elif phase in (Phase.GENERATING, Phase.COMPLETE):
            changed = conversation.move_to(Phase.REFINEMENT, by=Actor.ARTIST)
        elif phase in (Phase.IDEATION, Phase.REFINEMENT):
            # A new round only once the last one was heard out; an interjection restarts the same round.
            if _round_heard_out(conversation, session):
                conversation.next_round()
        loop = refine_loop.pause_for_artist(conversation)  # the artist is heard first
        message = conversation.append_message(Role.USER, text)
        posted = Posted(message, phase_changed=changed, was_paused=was_paused, refusal=refusal)
        posted.loop_card_id = loop.card_id
        if edited is not None:
            posted.folded = reply_requests.fold_edited(conversation, edited, message)
        if brief_to_generate is not None:
            # In the same trip to the database thread and the same transaction: each extra trip queued
            # behind every other session's queries, each extra commit waited for the disk, and with many
            # sessions saying "generate" at once the ComfyUI servers sat idle meanwhile (PERFORMANCE.md).
            _start_generation(session, conversation, user, brief_to_generate, posted)
        if posted.generation_message_id is None:
            session.touch()  # a started generation has touched it
    return posted


def _round_heard_out(conversation: Conversation, session: Session) -> bool:
    """Every speaker of the round (but the muted) finished, counting answers to direct questions asked
    along the way: a question to one specialist is an aside within the round, not a round."""
    messages = list(conversation.messages.order_by("order"))
    expected = set(plan_for(conversation.phase, session.settings).speakers) - muted_roles(session.settings)
    finished: set[str] = set()
    while True:
        anchor, after = current_turn(messages)
        finished |= {m.role for m in after if m.status == Message.Status.COMPLETE}
        if anchor is None or not addressed_by(anchor).only:
            return expected <= finished
        messages = messages[: messages.index(anchor)]


def _start_generation(
    session: Session, conversation: Conversation, user, brief_message: Message, posted: Posted
) -> None:
    try:
        generation = start_generation(session, brief_message.brief or {}, user=user, announce=False)
    except BriefError as exc:  # whatever start_generation had stored is rolled back to its savepoint
        posted.refusal = f"Could not start the generation: {exc}"
    else:
        posted.generation_message_id = generation.chat_message.pk


async def post_message(session: Session, user, text, *, replaying: bool = False, replaces=None) -> Posted:
    """Store the artist's message (in place of their last one, for ``replaces``); ``replaying`` never starts
    a generation."""
    text = validate_text(text)
    posted = await _post(session.pk, text, user, replaying=replaying, replaces=replaces)
    message = posted.message
    # Whoever is talking stops: the artist's words open a new turn.
    await live().set_interrupt(message.conversation_id, message.pk)
    for folded in posted.folded:
        await notify.message_changed(session.pk, folded)
    await notify.message_added(session.pk, message.pk)
    if posted.generation_message_id is not None:
        # The job is already with a worker; its card follows the artist's words in the chat.
        await notify.message_added(session.pk, posted.generation_message_id)
    if posted.loop_card_id is not None:
        await notify.message_changed(session.pk, posted.loop_card_id)
    if posted.phase_changed or posted.generation_message_id is not None:
        await notify.phase_changed(message.conversation_id)
    if posted.was_paused:
        await notify.pause_changed(message.conversation_id)  # the artist's words let the team go on
    return posted  # with ``refusal`` set, the words were kept and the team hears them: the caller says why


@sync_to_async
def _conversation(session_id: int) -> Conversation:
    return Conversation.objects.current(Session.objects.get(pk=session_id))


async def move(session: Session, direction: str) -> None:
    conversation = await _conversation(session.pk)
    target = artist_step(conversation.phase, direction)
    if target is None:
        if direction == "advance":
            raise Rejected("From here, press Generate on the brief (or say “generate”).")
        raise Rejected("This is already the first phase.")
    notice = await orchestrator.enter_phase(conversation, target, by=Actor.ARTIST)
    if notice is not None:
        await live().set_interrupt(conversation.pk, notice.pk)


@sync_to_async
def _pause(conversation: Conversation) -> Message | None:
    with transaction.atomic():
        Session.objects.select_for_update().get(pk=conversation.session_id)  # two Pause clicks at once: one notice
        if is_paused(conversation):
            return None
        return conversation.append_message(
            Role.SYSTEM,
            "You paused the team. Send a message, or press Resume, to go on.",
            kind=Message.Kind.NOTICE,
            opens_turn=True,
            pauses=True,
        )


async def pause(session: Session) -> None:
    conversation = await _conversation(session.pk)
    notice = await _pause(conversation)
    if notice is None:
        raise Rejected("The team is already paused. Send a message, or press Resume, to go on.")
    await live().set_interrupt(conversation.pk, notice.pk)
    await notify.message_added(session.pk, notice.pk)
    await notify.pause_changed(conversation.pk)


@sync_to_async
def _resume(conversation: Conversation) -> Message | None:
    with transaction.atomic():
        Session.objects.select_for_update().get(pk=conversation.session_id)
        if not is_paused(conversation):
            return None
        return conversation.append_message(
            Role.SYSTEM, "You let the team go on.", kind=Message.Kind.NOTICE, opens_turn=True
        )


async def resume(session: Session) -> None:
    conversation = await _conversation(session.pk)
    notice = await _resume(conversation)
    if notice is None:
        raise Rejected("The team is not paused.")
    await notify.message_added(session.pk, notice.pk)
    await notify.pause_changed(conversation.pk)


async def request_reply(session: Session, kind: str, message_id) -> None:
    """Go on from a cut reply ("go_on"), or another take of a reply ("retake")."""
    conversation = await _conversation(session.pk)
    ask = reply_requests.go_on if kind == "go_on" else reply_requests.retake
    try:
        requested = await sync_to_async(ask)(conversation, message_id)
    except reply_requests.RequestRefused as exc:
        raise Rejected(str(exc)) from exc
    await live().set_interrupt(conversation.pk, requested.opening.pk)
    for folded in requested.folded:
        await notify.message_changed(session.pk, folded)
    await notify.message_added(session.pk, requested.opening.pk)


@sync_to_async
def _mark_retry(conversation: Conversation) -> list[int]:
    _, after = current_turn(list(conversation.messages.order_by("order")))
    failed = [m for m in after if m.status == Message.Status.FAILED and not m.retried]
    return [m.pk for m in failed if m.mark_retried()]


async def retry(session: Session) -> int:
    llm.forget_pings()
    conversation = await _conversation(session.pk)
    retried = await _mark_retry(conversation)
    # The old bubbles lose their "Try again" button so a second click cannot queue the turn twice.
    for message_id in retried:
        await notify.message_changed(session.pk, message_id)
    return len(retried)
