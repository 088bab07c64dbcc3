"""Auto-refine: Lens scores each result, Pixel revises the brief from what is missing, the studio renders again.

The loop's state lives in its RefineLoop row (status, attempts, best score, keeper, the turn it is on); what
happens next is derived from that row and the stored conversation (``loop_step``), so a restart or a second
web process carries on where it stood. The artist stays in charge: their words pause it, Stop and Accept end
it, and any attempt can be kept or refined from.
"""

from dataclasses import dataclass

from django.db import transaction

from generations.models import Generation
from generations.services.brief import BriefError
from generations.services.generate import cancel, start_generation
from specialists.models import OPEN_LOOP, Conversation, Message, RefineLoop, Review, Role
from specialists.services.critique import SCORE_MAX

DEFAULT_ATTEMPTS = 3
MAX_ATTEMPTS = 6
DEFAULT_THRESHOLD = 8


class LoopRefused(Exception):
    """The artist's request on a loop cannot be carried out; the message says why."""


@dataclass(frozen=True)
class LoopSetting:
    on: bool
    max_attempts: int
    threshold: int


def _bounded(value, low: int, high: int, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else default


def setting_of(session) -> LoopSetting:
    """The session's auto-refine setting (off unless the artist turned it on: every attempt is a render)."""
    stored = session.settings.get("auto_refine") or {}
    return LoopSetting(
        on=stored.get("on") is True,
        max_attempts=_bounded(stored.get("attempts"), 1, MAX_ATTEMPTS, DEFAULT_ATTEMPTS),
        threshold=_bounded(stored.get("threshold"), 1, SCORE_MAX, DEFAULT_THRESHOLD),
    )


def open_loop(conversation: Conversation) -> RefineLoop | None:
    return conversation.refine_loops.filter(status__in=OPEN_LOOP).first()


def running_loop_at(conversation: Conversation, anchor: Message) -> RefineLoop | None:
    """The loop driving the turn that ``anchor`` opened, if one is running."""
    return conversation.refine_loops.filter(status=RefineLoop.Status.RUNNING, anchor=anchor).first()


def loop_step(turn: list[Message], anchor: Message) -> str | None:
    """What a running loop does next in its turn: "review" (Lens), "revise" (Pixel), "render", or nothing."""
    if any(m.kind == Message.Kind.GENERATION for m in turn):
        return None  # the attempt is rendering; its result opens the next turn
    if any(m.kind == Message.Kind.BRIEF and m.status == Message.Status.COMPLETE for m in turn):
        return "render"
    if any(m.role == Role.TECHNICAL for m in turn):
        return None  # Pixel is writing, or failed and waits for Try again
    reviewed = any(m.kind == Message.Kind.REVIEW and m.status == Message.Status.COMPLETE for m in turn)
    if anchor.kind == Message.Kind.RESULT and not reviewed:
        return "review" if not any(m.role == Role.CRITIC for m in turn) else None
    return "revise"


def ending_text(loop: RefineLoop) -> str:
    kept = f" Attempt {loop.keeper.attempt_number} ({loop.keeper.score}/10) is kept." if loop.keeper else ""
    reason = loop.note or loop.get_ending_display()
    return f"Auto-refine ended after {loop.attempts} attempt{'s' if loop.attempts != 1 else ''}: {reason}.{kept}"


def _end_notice(loop: RefineLoop) -> Message:
    return loop.conversation.append_message(Role.SYSTEM, ending_text(loop), kind=Message.Kind.NOTICE)


@dataclass
class Outcome:
    """What a loop change put in the chat: the card to redraw, and a notice to add."""

    card_id: int | None = None
    notice_id: int | None = None


def _outcome(loop: RefineLoop, notice: Message | None = None) -> Outcome:
    return Outcome(loop.card_id, notice.pk if notice else None)


def _new_loop(conversation: Conversation, setting: LoopSetting, anchor: Message) -> RefineLoop:
    card = conversation.append_message(Role.SYSTEM, "", kind=Message.Kind.REFINE_LOOP)
    return RefineLoop.objects.create(
        conversation=conversation,
        card=card,
        max_attempts=setting.max_attempts,
        threshold=setting.threshold,
        anchor=anchor,
    )


@transaction.atomic
def after_review(conversation: Conversation, review: Review, anchor: Message) -> Outcome:
    """Count the review in the loop it belongs to, or open a loop when the session refines automatically."""
    if (counted := _loop_that_counted(conversation, review)) is not None:
        return Outcome(counted.card_id)  # Lens looked at an attempt again: it counts once
    outcomes = Outcome()
    loop = open_loop(conversation)
    ours = loop is not None and (
        loop.anchor_id == anchor.pk or (review.generation_id and review.generation_id == loop.rendering_id)
    )
    if loop is not None and not ours:
        # The artist made another picture meanwhile: the old loop's attempts stay, a new one may start.
        loop.move(RefineLoop.Status.ENDED, ending=RefineLoop.Ending.SUPERSEDED)
        outcomes = _outcome(loop, _end_notice(loop))
        loop = None
    if loop is None and (late := _stopped_while_rendering(conversation, review)) is not None:
        # The render the artist stopped finished anyway: it is that loop's attempt (the artist may keep it),
        # not the start of a new loop.
        Review.objects.filter(pk=review.pk).update(loop=late)
        late.record_late(review)
        return Outcome(late.card_id, outcomes.notice_id)
    if loop is None:
        setting = setting_of(conversation.session)
        if not setting.on:
            return outcomes
        loop = _new_loop(conversation, setting, anchor)
    Review.objects.filter(pk=review.pk).update(loop=loop)
    loop.record(review)
    notice = _end_notice(loop) if not loop.is_open else None
    return Outcome(loop.card_id, notice.pk if notice else outcomes.notice_id)


def _loop_that_counted(conversation: Conversation, review: Review) -> RefineLoop | None:
    if review.generation_id is None:
        return None
    others = Review.objects.filter(generation_id=review.generation_id, loop__conversation=conversation)
    earlier = others.exclude(pk=review.pk).select_related("loop").first()
    return earlier.loop if earlier is not None else None


def _stopped_while_rendering(conversation: Conversation, review: Review) -> RefineLoop | None:
    if review.generation_id is None:
        return None
    return conversation.refine_loops.filter(status=RefineLoop.Status.ENDED, rendering_id=review.generation_id).first()


@transaction.atomic
def stop_for_failure(conversation: Conversation, note: str) -> Outcome:
    """A step the loop needs failed (the critic's answer, a render): it stops and keeps what it has."""
    loop = open_loop(conversation)
    if loop is None or not loop.move(RefineLoop.Status.ENDED, ending=RefineLoop.Ending.FAILED, note=note):
        return Outcome()
    return _outcome(loop, _end_notice(loop))


@transaction.atomic
def on_result(conversation: Conversation, generation: Generation, result: Message | None) -> Outcome:
    """The loop's render ended: a result opens its next turn; a failed render stops the loop."""
    loop = open_loop(conversation)
    if loop is None or loop.rendering_id != generation.pk:
        return Outcome()
    if generation.status == Generation.Status.COMPLETE and result is not None:
        RefineLoop.objects.filter(pk=loop.pk).update(anchor=result)
        return Outcome(loop.card_id)
    note = f"the render of generation #{generation.pk} did not finish ({generation.get_status_display().lower()})"
    loop.move(RefineLoop.Status.ENDED, ending=RefineLoop.Ending.FAILED, note=note)
    return _outcome(loop, _end_notice(loop))


def render(conversation: Conversation, brief_message: Message) -> Outcome:
    """Start the generation of Pixel's revised brief, as the artist's Generate would."""
    loop = open_loop(conversation)
    session = conversation.session
    try:
        with transaction.atomic():
            generation = start_generation(session, brief_message.brief or {}, user=session.owner, announce=False)
            RefineLoop.objects.filter(pk=loop.pk).update(rendering=generation)
    except BriefError as exc:
        return stop_for_failure(conversation, f"the revised brief could not be rendered ({exc})")
    return Outcome(loop.card_id, generation.chat_message.pk)


@transaction.atomic
def pause_for_artist(conversation: Conversation) -> Outcome:
    """The artist spoke: the loop waits, and the artist is heard first."""
    loop = open_loop(conversation)
    if loop is None or not loop.move(RefineLoop.Status.PAUSED):
        return Outcome()
    return Outcome(loop.card_id)


def _owned_loop(conversation: Conversation, loop_id: int) -> RefineLoop:
    loop = conversation.refine_loops.select_for_update().filter(pk=loop_id).first()
    if loop is None:
        raise LoopRefused("That auto-refine loop is not in this conversation.")
    return loop


def _owned_review(loop: RefineLoop, review_id) -> Review:
    review = loop.reviews.filter(pk=review_id).first() if str(review_id).isdigit() else None
    if review is None:
        raise LoopRefused("That attempt is not part of this loop.")
    return review


@transaction.atomic
def stop(conversation: Conversation, loop_id: int, *, accept: bool = False) -> Outcome:
    loop = _owned_loop(conversation, loop_id)
    ending = RefineLoop.Ending.ACCEPTED if accept else RefineLoop.Ending.STOPPED
    if not loop.move(RefineLoop.Status.ENDED, ending=ending):
        raise LoopRefused("This loop has already ended.")
    return _outcome(loop, _end_notice(loop))


@transaction.atomic
def keep(conversation: Conversation, loop_id: int, review_id) -> Outcome:
    """The artist picks the attempt to keep; an open loop refines from it next."""
    loop = _owned_loop(conversation, loop_id)
    review = _owned_review(loop, review_id)
    fields = {"keeper": review, "base": review} if loop.is_open else {"keeper": review}
    RefineLoop.objects.filter(pk=loop.pk).update(**fields)
    return Outcome(loop.card_id)


@transaction.atomic
def resume(conversation: Conversation, loop_id: int, review_id=None) -> Outcome:
    """Go on (from a chosen attempt, for "refine from this one"): Pixel revises next."""
    loop = _owned_loop(conversation, loop_id)
    base = _owned_review(loop, review_id) if review_id is not None else loop.base
    if loop.status == RefineLoop.Status.RUNNING:
        raise LoopRefused("The loop is already running.")
    if loop.status == RefineLoop.Status.ENDED and loop.attempts >= loop.max_attempts:
        raise LoopRefused(
            f"This loop used all its {loop.max_attempts} attempts. Raise the number in the session settings, "
            "or say what to change."
        )
    if loop.status == RefineLoop.Status.ENDED and open_loop(conversation) is not None:
        raise LoopRefused("Another auto-refine loop is open: stop it first.")
    text = f"Auto-refine goes on from attempt {base.attempt_number}: Pixel revises its brief."
    notice = conversation.append_message(Role.SYSTEM, text, kind=Message.Kind.NOTICE, opens_turn=True)
    if not loop.move(RefineLoop.Status.RUNNING, base=base, anchor=notice):
        raise LoopRefused("The loop changed meanwhile: look at its card again.")
    return Outcome(loop.card_id, notice.pk)


def _cancel_render(loop: RefineLoop) -> None:
    """The artist ended the loop: its render still under way is no longer wanted (the GPU is theirs)."""
    loop.refresh_from_db()
    rendering = loop.rendering
    if rendering is not None and not rendering.is_finished:
        cancel(rendering)


ACTIONS = ("stop", "accept", "resume", "keep", "refine_from")


def act(loop: RefineLoop, action: str, review_id=None) -> Outcome:
    """The artist's button on the loop's card."""
    conversation = loop.conversation
    if action in ("stop", "accept"):
        outcome = stop(conversation, loop.pk, accept=action == "accept")
        _cancel_render(loop)
        return outcome
    if action == "resume":
        return resume(conversation, loop.pk)
    if action == "keep":
        return keep(conversation, loop.pk, review_id)
    if action == "refine_from":
        return resume(conversation, loop.pk, review_id if review_id is not None else "")
    raise LoopRefused(f"Unknown action {action!r}: choose one of {', '.join(ACTIONS)}.")
