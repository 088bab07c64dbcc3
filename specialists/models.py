"""The conversation: who speaks (roles), where it stands (phases) and what was said (messages).

The conversation's phase is a state machine with one transition table (TRANSITIONS): every phase
change in the studio goes through ``Conversation.move_to``, which applies it with a conditional
update, as Generation does for its own status.
"""

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Max
from django.utils import timezone

from generations.models import Generation
from studio.core.models import Session


class Role(models.TextChoices):
    USER = "user", "You"
    STYLE = "style", "Luna"
    COMPOSITION = "composition", "Frame"
    STORY = "story", "Saga"
    TECHNICAL = "technical", "Pixel"
    CRITIC = "critic", "Lens"
    SYSTEM = "system", "Studio"


SPECIALIST_ROLES = [Role.STYLE, Role.COMPOSITION, Role.STORY, Role.TECHNICAL, Role.CRITIC]


class Phase(models.TextChoices):
    IDEATION = "ideation", "Ideation"
    REFINEMENT = "refinement", "Refinement"
    SYNTHESIS = "synthesis", "Synthesis"
    REVIEW = "review", "Review"
    GENERATING = "generating", "Generating"
    COMPLETE = "complete", "Complete"


PHASE_ORDER = list(Phase.values)


class Actor(models.TextChoices):
    """Who asks for a phase change."""

    ARTIST = "artist", "the artist"
    TEAM = "team", "the team (orchestrator)"
    RESULT = "result", "a generation's outcome"


_A, _T, _R = Actor.ARTIST, Actor.TEAM, Actor.RESULT
# (from, to) -> who may make that move. Anything not listed is refused.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    # Forward through the talk: the team moves on when its rounds are done, the artist may skip ahead.
    (Phase.IDEATION, Phase.REFINEMENT): frozenset({_A, _T}),
    (Phase.REFINEMENT, Phase.SYNTHESIS): frozenset({_A, _T}),
    (Phase.SYNTHESIS, Phase.REVIEW): frozenset({_A, _T}),
    # Back, one step at a time (generating is skipped: going back from a result means the brief).
    (Phase.REFINEMENT, Phase.IDEATION): frozenset({_A}),
    (Phase.SYNTHESIS, Phase.REFINEMENT): frozenset({_A}),
    (Phase.REVIEW, Phase.SYNTHESIS): frozenset({_A}),
    (Phase.GENERATING, Phase.REVIEW): frozenset({_A, _R}),
    (Phase.COMPLETE, Phase.REVIEW): frozenset({_A}),
    # Starting a generation (a brief's Generate, a variation, a rework) works from anywhere a brief exists.
    (Phase.IDEATION, Phase.GENERATING): frozenset({_A}),
    (Phase.REFINEMENT, Phase.GENERATING): frozenset({_A}),
    (Phase.SYNTHESIS, Phase.GENERATING): frozenset({_A}),
    (Phase.REVIEW, Phase.GENERATING): frozenset({_A}),
    (Phase.COMPLETE, Phase.GENERATING): frozenset({_A}),
    # What happens to a generation moves the talk on only while the talk waits for it.
    (Phase.GENERATING, Phase.COMPLETE): frozenset({_R}),
    # The artist's words or Refine on a result reopen the discussion.
    (Phase.REVIEW, Phase.REFINEMENT): frozenset({_A}),
    (Phase.GENERATING, Phase.REFINEMENT): frozenset({_A}),
    (Phase.COMPLETE, Phase.REFINEMENT): frozenset({_A}),
}


def can_move(current: str, target: str, actor: str) -> bool:
    return actor in TRANSITIONS.get((current, target), ())


def artist_step(current: str, direction: str) -> str | None:
    """Where the artist's Next (direction "advance") or Back ("back") leads from ``current``, if anywhere."""
    index = PHASE_ORDER.index(current)
    candidates = PHASE_ORDER[index + 1 :] if direction == "advance" else PHASE_ORDER[:index][::-1]
    for target in candidates:
        if target == Phase.GENERATING:
            continue  # only a Generate button starts a generation
        return target if can_move(current, target, Actor.ARTIST) else None
    return None


class ConversationQuerySet(models.QuerySet):
    def current(self, session: Session) -> "Conversation":
        """The session's newest conversation, created on first use."""
        conversation = self.filter(session=session).order_by("-created_at", "-pk").first()
        return conversation or self.create(session=session)


class Conversation(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="conversations")
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.IDEATION)
    round = models.PositiveIntegerField(default=1)
    # Set while an orchestrator run holds this conversation; a stale one is reclaimed.
    running_since = models.DateTimeField(null=True, blank=True)
    replayed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    # Per-conversation model choices (a replay with other models); falls back to the session's.
    model_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.session} · {self.get_phase_display()} round {self.round}"

    @property
    def phase_index(self) -> int:
        return PHASE_ORDER.index(self.phase)

    def model_for(self, role: str) -> str | None:
        """The explicitly chosen model for a role, or None to let the studio pick an installed one."""
        return self.model_overrides.get(role) or self.session.model_assignments.get(role) or None

    def move_to(self, phase: str, *, by: str) -> bool:
        """Move to ``phase`` (the round restarts at 1) if the table lets ``by`` make that move from here.

        False when already there, when the move is not allowed, or when another writer moved first.
        """
        if phase not in PHASE_ORDER:
            raise ValueError(f"unknown phase {phase!r}")
        if phase == self.phase or not can_move(self.phase, phase, by):
            return False
        moved = Conversation.objects.filter(pk=self.pk, phase=self.phase).update(phase=phase, round=1)
        if moved:
            self.phase, self.round = phase, 1
        else:
            self.refresh_from_db(fields=["phase", "round"])
        return bool(moved)

    def next_round(self) -> None:
        Conversation.objects.filter(pk=self.pk).update(round=F("round") + 1)
        self.refresh_from_db(fields=["round"])

    def generations(self) -> models.QuerySet:
        """The generations started from this conversation (each has its card among the messages)."""
        return Generation.objects.filter(chat_messages__conversation=self).distinct()

    def append_message(
        self,
        role: str,
        content: str = "",
        *,
        kind: str = "chat",
        status: str | None = None,
        opens_turn: bool = False,
        pauses: bool = False,
        generation: Generation | None = None,
        brief: dict | None = None,
        metadata: dict | None = None,
        asks: "Message | None" = None,
    ) -> "Message":
        """Append a message at the end; order is dense and unique within the conversation."""
        for _ in range(5):
            last = self.messages.aggregate(m=Max("order"))["m"]
            try:
                with transaction.atomic():
                    return Message.objects.create(
                        conversation=self,
                        role=role,
                        content=content,
                        kind=kind,
                        status=status or Message.Status.COMPLETE,
                        opens_turn=opens_turn,
                        pauses=pauses,
                        generation=generation,
                        brief=brief,
                        metadata=metadata or {},
                        asks=asks,
                        order=(last or 0) + 1,
                        phase=self.phase,
                        round=self.round,
                    )
            except IntegrityError:
                continue  # another writer took that order: read again
        raise RuntimeError("could not append a message after 5 attempts")


class Message(models.Model):
    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        CHAT = "chat", "Chat"
        DRAFTING = "drafting", "Brief being drafted"
        BRIEF = "brief", "Brief"
        GENERATION = "generation", "Generation card"
        NOTICE = "notice", "Notice"
        RESULT = "result", "A finished generation, for the team to look at"
        REVIEW = "review", "Lens's scored review of a result"
        QUESTION = "question", "A question to the artist before the team goes on"
        REFINE_LOOP = "refine_loop", "The auto-refine loop's card"
        GO_ON = "go_on", "The artist asked a specialist to go on from a cut reply"
        RETAKE = "retake", "The artist asked a specialist for another take"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHAT)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # The message opens a turn: the team answers what came before it (the artist's words always do).
    opens_turn = models.BooleanField(default=False)
    # The artist paused the team: nobody speaks until the artist does.
    pauses = models.BooleanField(default=False)
    # A failed reply whose "Try again" was pressed.
    retried = models.BooleanField(default=False)
    # A request (go on, another take) names the reply it is about.
    asks = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Replaced by a newer take or by the artist's edit: kept in the chat, folded, and out of what anyone hears.
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="chat_messages"
    )
    # Pixel's brief (kind "brief"), validated.
    brief = models.JSONField(null=True, blank=True)
    # Free-form extras only (model, backend, stats, error text, warnings): nothing reads them to decide.
    metadata = models.JSONField(default=dict, blank=True)
    order = models.PositiveIntegerField()
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.IDEATION)
    round = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "order"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "order"], name="specialists_message_order_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    @property
    def is_specialist(self) -> bool:
        return self.role in SPECIALIST_ROLES

    @property
    def starts_turn(self) -> bool:
        return self.role == Role.USER or self.opens_turn

    def finish(self, status: str, content: str | None = None, *, kind: str | None = None, brief=None, **metadata):
        """Settle a streaming message; a message already settled is left alone."""
        fields = {"status": status, "updated_at": timezone.now()}
        if content is not None:
            fields["content"] = content
        if kind is not None:
            fields["kind"] = kind
        if brief is not None:
            fields["brief"] = brief
        if metadata:
            fields["metadata"] = {**self.metadata, **metadata}
        updated = Message.objects.filter(pk=self.pk, status=Message.Status.STREAMING).update(**fields)
        if updated:
            for key, value in fields.items():
                setattr(self, key, value)

    def mark_retried(self) -> bool:
        updated = Message.objects.filter(pk=self.pk, status=Message.Status.FAILED, retried=False).update(
            retried=True, updated_at=timezone.now()
        )
        self.retried = self.retried or bool(updated)
        return bool(updated)


class ModelPull(models.Model):
    """An Ollama model being downloaded at an artist's request (/api/pull), with its progress."""

    class Status(models.TextChoices):
        PULLING = "pulling", "Pulling"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_pulls")
    model = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PULLING)
    # What Ollama says it is doing ("pulling manifest", "verifying sha256 digest"...), and the bytes so far.
    stage = models.CharField(max_length=200, blank=True)
    completed = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["model"], condition=models.Q(status="pulling"), name="specialists_one_pull_per_model"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.completed / self.total) if self.total else 0

    def progress(self, stage: str, completed: int, total: int) -> bool:
        """Record progress while pulling; False once it is no longer pulling (cancelled meanwhile)."""
        fields = {"stage": stage[:200], "completed": completed, "total": total, "updated_at": timezone.now()}
        return bool(ModelPull.objects.filter(pk=self.pk, status=self.Status.PULLING).update(**fields))

    def end(self, status: str, error: str = "") -> bool:
        """pulling -> complete / failed / cancelled, once."""
        if status == self.Status.PULLING:
            raise ValueError("a pull ends in complete, failed or cancelled")
        ended = ModelPull.objects.filter(pk=self.pk, status=self.Status.PULLING).update(
            status=status, error=error, updated_at=timezone.now()
        )
        self.refresh_from_db()
        return bool(ended)

    def request_cancel(self) -> bool:
        return bool(
            ModelPull.objects.filter(pk=self.pk, status=self.Status.PULLING).update(
                cancel_requested=True, updated_at=timezone.now()
            )
        )

    def cancel_wanted(self) -> bool:
        return ModelPull.objects.filter(pk=self.pk, cancel_requested=True).exists()


class RefineLoop(models.Model):
    """Auto-refine: Lens scores a result, Pixel revises the brief, the studio renders again, until it is good.

    Its status is a state machine with one transition table (LOOP_TRANSITIONS); each attempt's score is
    recorded with a conditional update, so two writers cannot count one review twice.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused for the artist"
        ENDED = "ended", "Ended"

    class Ending(models.TextChoices):
        NONE = "", "—"
        THRESHOLD = "threshold", "the score reached the threshold"
        ATTEMPTS = "attempts", "every attempt was used"
        STALLED = "stalled", "the score stopped improving"
        STOPPED = "stopped", "you stopped it"
        ACCEPTED = "accepted", "you accepted an attempt"
        FAILED = "failed", "a step failed"
        SUPERSEDED = "superseded", "a newer loop took over"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="refine_loops")
    # The loop's card in the chat: the attempts strip.
    card = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="refine_loop_card"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    ending = models.CharField(max_length=16, choices=Ending.choices, default=Ending.NONE, blank=True)
    max_attempts = models.PositiveSmallIntegerField()
    threshold = models.PositiveSmallIntegerField()
    attempts = models.PositiveSmallIntegerField(default=0)
    best_score = models.PositiveSmallIntegerField(null=True, blank=True)
    # Reviews in a row that did not beat the best score.
    stale = models.PositiveSmallIntegerField(default=0)
    keeper = models.ForeignKey("Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The attempt Pixel revises next: the best so far, or the one the artist chose ("refine from this one").
    base = models.ForeignKey("Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The message that opened the loop's current turn (a result, or the notice that resumed it).
    anchor = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The generation the loop is waiting for.
    rendering = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)  # why a failed loop stopped, in words for the artist
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status__in=["running", "paused"]),
                name="specialists_one_open_refine_loop",
            )
        ]

    def __str__(self) -> str:
        return f"auto-refine {self.pk} ({self.status}, {self.attempts}/{self.max_attempts})"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.ENDED

    def move(self, status: str, *, ending: str = "", note: str = "", **fields) -> bool:
        """Follow LOOP_TRANSITIONS with a conditional update; False when not allowed or another writer won."""
        if (self.status, status) not in LOOP_TRANSITIONS:
            return False
        if status == self.Status.ENDED:
            fields.update(ending=ending or self.Ending.STOPPED, note=note, ended_at=timezone.now())
        else:
            fields.update(ending=self.Ending.NONE, note="", ended_at=None)
        moved = RefineLoop.objects.filter(pk=self.pk, status=self.status).update(status=status, **fields)
        self.refresh_from_db()
        return bool(moved)

    def record(self, review: "Review") -> bool:
        """Count ``review`` as the next attempt: the best is kept, and the loop ends when it should.

        False when another writer counted an attempt first (nothing changes then).
        """
        improved = self.best_score is None or review.score > self.best_score
        fields = {
            "attempts": self.attempts + 1,
            "stale": 0 if improved else self.stale + 1,
            "best_score": review.score if improved else self.best_score,
            "keeper": review if improved else self.keeper,
            "base": review if improved else self.keeper,
        }
        ending = _ending(review.score, self.threshold, fields["attempts"], self.max_attempts, fields["stale"])
        if ending:
            fields.update(status=self.Status.ENDED, ending=ending, ended_at=timezone.now())
        counted = RefineLoop.objects.filter(pk=self.pk, attempts=self.attempts, status__in=OPEN_LOOP).update(**fields)
        self.refresh_from_db()
        return bool(counted)

    def record_late(self, review: "Review") -> bool:
        """Count ``review``, the render that was under way when the loop ended, without moving the keeper
        (the artist ended the loop with an attempt in mind; the strip lets them pick this one)."""
        counted = RefineLoop.objects.filter(pk=self.pk, attempts=self.attempts, status=self.Status.ENDED).update(
            attempts=self.attempts + 1, rendering=None
        )
        self.refresh_from_db()
        return bool(counted)


# A score that does not beat the best this many times in a row ends the loop.
STALL_LIMIT = 2
OPEN_LOOP = (RefineLoop.Status.RUNNING, RefineLoop.Status.PAUSED)
LOOP_TRANSITIONS = frozenset(
    {
        (RefineLoop.Status.RUNNING, RefineLoop.Status.PAUSED),
        (RefineLoop.Status.PAUSED, RefineLoop.Status.RUNNING),
        (RefineLoop.Status.RUNNING, RefineLoop.Status.ENDED),
        (RefineLoop.Status.PAUSED, RefineLoop.Status.ENDED),
        # "Refine from this one" on an attempt of a loop that ended early.
        (RefineLoop.Status.ENDED, RefineLoop.Status.RUNNING),
    }
)


def _ending(score: int, threshold: int, attempts: int, max_attempts: int, stale: int) -> str:
    if score >= threshold:
        return RefineLoop.Ending.THRESHOLD
    if attempts >= max_attempts:
        return RefineLoop.Ending.ATTEMPTS
    if stale >= STALL_LIMIT:
        return RefineLoop.Ending.STALLED
    return ""


class Review(models.Model):
    """Lens's structured review of one result: what the artist asked for, what is there, a score, one fix."""

    class Verdict(models.TextChoices):
        PRESENT = "present", "present"
        PARTLY = "partly", "partly"
        MISSING = "missing", "missing"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="review")
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    loop = models.ForeignKey(RefineLoop, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviews")
    score = models.PositiveSmallIntegerField()
    fix = models.TextField(blank=True)
    # [{"name": "a red lighthouse", "aspect": "subject", "verdict": "missing"}, ...]: read to word Pixel's
    # revision and drawn in the bubble; no decision depends on it.
    elements = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"review of generation {self.generation_id}: {self.score}/10"

    @property
    def attempt_number(self) -> int:
        if self.loop_id is None:
            return 1
        return Review.objects.filter(loop_id=self.loop_id, pk__lte=self.pk).count()

    def lacking(self) -> list[dict]:
        """The asked-for elements the picture misses or only partly shows."""
        return [e for e in self.elements if e.get("verdict") != self.Verdict.PRESENT]
