from django.conf import settings
from django.db import models
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone


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


class Session(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_sessions")
    title = models.CharField(max_length=200)
    # role value -> model name, e.g. {"style": "llama3.2"}; a missing role uses the default model.
    model_assignments = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("core:studio", args=[self.pk])

    def model_for(self, role: str) -> str:
        return self.model_assignments.get(role) or settings.LLM_DEFAULT_MODEL

    @property
    def current_conversation(self) -> "Conversation":
        conversation = self.conversations.order_by("-created_at", "-pk").first()
        if conversation is None:
            conversation = Conversation.objects.create(session=self)
        return conversation

    def touch(self) -> None:
        Session.objects.filter(pk=self.pk).update(updated_at=timezone.now())


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

    def set_phase(self, phase: str) -> bool:
        """Move to ``phase`` (round restarts at 1). Returns False if already there."""
        if phase not in PHASE_ORDER:
            raise ValueError(f"unknown phase {phase!r}")
        if phase == self.phase:
            return False
        self.phase = phase
        self.round = 1
        Conversation.objects.filter(pk=self.pk).update(phase=phase, round=1)
        return True

    def next_round(self) -> None:
        Conversation.objects.filter(pk=self.pk).update(round=F("round") + 1)
        self.refresh_from_db(fields=["round"])

    def append_message(self, role: str, content: str = "", *, status: str | None = None, metadata=None) -> "Message":
        """Append a message at the end; order is dense and unique within the conversation."""
        from django.db import IntegrityError, transaction

        for _ in range(5):
            last = self.messages.aggregate(m=Max("order"))["m"]
            try:
                with transaction.atomic():
                    return Message.objects.create(
                        conversation=self,
                        role=role,
                        content=content,
                        status=status or Message.Status.COMPLETE,
                        metadata=metadata or {},
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

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    order = models.PositiveIntegerField()
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.IDEATION)
    round = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "order"]
        constraints = [models.UniqueConstraint(fields=["conversation", "order"], name="message_order_unique")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:60]}"

    @property
    def is_specialist(self) -> bool:
        return self.role in SPECIALIST_ROLES

    def finish(self, status: str, content: str | None = None, **metadata) -> None:
        """Settle a streaming message; a message already settled is left alone."""
        fields = {"status": status, "updated_at": timezone.now()}
        if content is not None:
            fields["content"] = content
        if metadata:
            fields["metadata"] = {**self.metadata, **metadata}
        updated = Message.objects.filter(pk=self.pk, status=Message.Status.STREAMING).update(**fields)
        if updated:
            for key, value in fields.items():
                setattr(self, key, value)
