"""What the team should do next, derived from the stored conversation alone.

Nothing about "whose turn it is" lives in memory: after a restart, a reload or
a second web process, the same messages give the same next step.
"""

from dataclasses import dataclass

from specialists.models import SPECIALIST_ROLES, Conversation, Message, Phase, Role, artist_step
from specialists.services.addressing import addressed_by, muted_roles
from specialists.services.open_decisions import decision_to_ask
from specialists.services.phases import plan_for
from specialists.services.refine_loop import loop_step, running_loop_at


@dataclass(frozen=True)
class Step:
    kind: str  # "ask" | "speak" | "go_on" | "brief" | "review" | "revise" | "render" | "advance"
    anchor_id: int
    speakers: tuple[str, ...] = ()
    independent: bool = False
    to_phase: str = ""


def is_turn_start(message: Message) -> bool:
    return message.starts_turn


def current_turn(messages: list[Message]) -> tuple[Message | None, list[Message]]:
    """The message that opened the current turn and everything after it."""
    for index in range(len(messages) - 1, -1, -1):
        if is_turn_start(messages[index]):
            return messages[index], messages[index + 1 :]
    return None, []


def is_paused(conversation: Conversation) -> bool:
    """The artist paused the team and has not let it go on since."""
    anchor, _ = current_turn(list(conversation.messages.order_by("order")))
    return bool(anchor is not None and anchor.pauses)


def next_step(conversation: Conversation) -> Step | None:
    messages = list(conversation.messages.order_by("order"))
    anchor, after = current_turn(messages)
    if anchor is None or anchor.pauses:
        return None
    phase = conversation.phase
    plan = plan_for(phase, conversation.session.settings)
    turn = [m for m in after if m.role in SPECIALIST_ROLES]
    if any(m.status == Message.Status.FAILED and not m.retried for m in turn):
        return None  # wait for the user to retry: do not hammer an engine that is down
    if any(m.status == Message.Status.STREAMING for m in turn):
        return None  # someone is still talking (another process holds the run)
    if anchor.kind in (Message.Kind.GO_ON, Message.Kind.RETAKE):
        return _requested_step(anchor, messages, turn)
    if phase == Phase.IDEATION and (decision := decision_to_ask(conversation, anchor, turn)) is not None:
        return Step("ask", anchor.pk, (decision.asker,))
    if any(m.kind == Message.Kind.QUESTION for m in turn):
        return None  # a specialist asked the artist something: the team waits for the answer
    if running_loop_at(conversation, anchor) is not None:
        return _loop_step(loop_step(after, anchor), anchor)
    spoken = {m.role for m in turn if m.status != Message.Status.FAILED}
    address = addressed_by(anchor)
    if waiting := tuple(role for role in address.roles if role not in spoken):
        return Step("speak", anchor.pk, waiting)  # whoever the artist named answers first, muted or not
    if address.only and phase != Phase.SYNTHESIS:
        return None  # a direct question was answered: the artist speaks next
    pending = tuple(role for role in plan.speakers if role not in spoken)
    if phase == Phase.COMPLETE and anchor.role == Role.USER:
        return None
    if pending:
        if phase == Phase.SYNTHESIS:
            return Step("brief", anchor.pk, (Role.TECHNICAL,))
        if phase == Phase.COMPLETE and anchor.kind == Message.Kind.RESULT:
            return Step("review", anchor.pk, (Role.CRITIC,))
        muted = muted_roles(conversation.session.settings)
        if voices := tuple(role for role in pending if role not in muted):
            return Step("speak", anchor.pk, voices, independent=plan.independent)
    if phase == Phase.SYNTHESIS:
        return Step("advance", anchor.pk, to_phase=Phase.REVIEW)
    moves_on = conversation.session.settings.get("auto_continue") is True
    if phase in (Phase.IDEATION, Phase.REFINEMENT) and (moves_on or conversation.round >= plan.max_rounds):
        return Step("advance", anchor.pk, to_phase=artist_step(phase, "advance"))
    return None


def _requested_step(anchor: Message, messages: list[Message], turn: list[Message]) -> Step | None:
    """The one specialist the artist asked to go on or to take their reply again; then the artist speaks."""
    asked = next((m for m in messages if m.pk == anchor.asks_id), None)
    if asked is None or any(m.role == asked.role for m in turn):
        return None
    return Step("go_on" if anchor.kind == Message.Kind.GO_ON else "speak", anchor.pk, (asked.role,))


def _loop_step(kind: str | None, anchor: Message) -> Step | None:
    speaker = {"review": (Role.CRITIC,), "revise": (Role.TECHNICAL,)}
    return Step(kind, anchor.pk, speaker.get(kind, ())) if kind else None


def latest_brief(conversation: Conversation) -> Message | None:
    return (
        conversation.messages.filter(role=Role.TECHNICAL, status=Message.Status.COMPLETE, kind=Message.Kind.BRIEF)
        .order_by("-order")
        .first()
    )


@dataclass(frozen=True)
class Cue:
    """What the composer says while the team waits for the artist, and the next phase it offers."""

    text: str = ""
    advance_to: str = ""  # a phase's label, when "move on" is the artist's other choice
    paused: bool = False

    @property
    def idle(self) -> bool:
        """Nobody talks and nothing is paused: Pause has nothing to stop."""
        return bool(self.text) and not self.paused


TALKING = Cue()
_WAITING = {
    Phase.IDEATION: "Your turn — reply to the team, or move on to {next}.",
    Phase.REFINEMENT: "Your turn — reply to the team, or move on to {next}.",
    Phase.REVIEW: "Your turn — say what to change, or press Generate on the brief (or say “generate”).",
    Phase.GENERATING: "The picture is being made — talk to the team meanwhile if you like.",
    Phase.COMPLETE: "Your turn — ask for changes, rework a result, or say “generate” to render the brief again.",
}


ASKED = "Your turn — {name} asked you a question: answer it, or move on to {next}."


def turn_cue(conversation: Conversation) -> Cue:
    """The cue from the stored conversation alone: the same after a reload, in every browser."""
    messages = list(conversation.messages.order_by("order"))
    anchor, after = current_turn(messages)
    if anchor is None:
        return Cue("Your turn — tell the team your idea.")
    if anchor.pauses:
        return Cue("You paused the team. Send a message, or press Resume, to let them go on.", paused=True)
    turn = [m for m in after if m.role in SPECIALIST_ROLES]
    if any(m.status == Message.Status.STREAMING for m in turn):
        return TALKING
    if any(m.status == Message.Status.FAILED and not m.retried for m in turn):
        return Cue("A reply failed: press Try again on it, or send a message.")
    if next_step(conversation) is not None or conversation.phase == Phase.SYNTHESIS:
        return TALKING
    following = artist_step(conversation.phase, "advance")
    label = Phase(following).label if following else ""
    text = _WAITING[conversation.phase].format(next=label)
    if asked := next((m for m in turn if m.kind == Message.Kind.QUESTION), None):
        text = ASKED.format(name=asked.get_role_display(), next=label)
    return Cue(text, label if conversation.phase in (Phase.IDEATION, Phase.REFINEMENT) else "")
