from django.conf import settings
from django.db import models
from django.utils import timezone

from generations.workflows.families import FAMILIES
from studio.core.models import Session


class MediaKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.COMPLETE, Status.FAILED, Status.CANCELLED)
    ACTIVE = (Status.QUEUED, Status.RUNNING)

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="generations")
    source = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived")
    kind = models.CharField(max_length=8, choices=MediaKind.choices, default=MediaKind.IMAGE)
    template = models.CharField(max_length=64, default="txt2img")
    parameters = models.JSONField(default=dict, blank=True)
    workflow = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    progress_value = models.PositiveIntegerField(default=0)
    progress_max = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    server = models.CharField(max_length=300, blank=True)
    client_id = models.CharField(max_length=64, blank=True)
    prompt_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # False for a custom workflow with no prompt input: the brief's prompt did not reach ComfyUI.
    uses_prompt = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Set while the job's ComfyUI does not answer (restarting, or stopped) and the runner waits for it.
    unreachable_since = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["session", "-created_at"])]

    def __str__(self) -> str:
        return f"Generation {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def _transition(self, allowed_from, **fields) -> bool:
        """Conditional single-row update so two workers never both win."""
        updated = Generation.objects.filter(pk=self.pk, status__in=allowed_from).update(**fields)
        if updated:
            for key, value in fields.items():
                setattr(self, key, value)
        return bool(updated)

    def claim(self, server: str, client_id: str) -> bool:
        """queued -> running. A running job whose heartbeat stopped (worker died) may be reclaimed."""
        now = timezone.now()
        fields = dict(
            status=self.Status.RUNNING, server=server, client_id=client_id, started_at=now, heartbeat_at=now, error=""
        )
        updated = Generation.objects.filter(pk=self.pk, status=self.Status.QUEUED, cancel_requested=False).update(
            attempts=models.F("attempts") + 1, **fields
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def complete(self, kind: str | None = None) -> bool:
        """running -> complete; ``kind`` is what it produced (a workflow may make a video where a picture was asked)."""
        return self._transition(
            [self.Status.RUNNING],
            **({"kind": kind} if kind else {}),
            status=self.Status.COMPLETE,
            progress=1.0,
            finished_at=timezone.now(),
            error="",
            unreachable_since=None,
        )

    def fail(self, error: str) -> bool:
        return self._transition(
            [self.Status.QUEUED, self.Status.RUNNING],
            status=self.Status.FAILED,
            error=error,
            finished_at=timezone.now(),
            unreachable_since=None,
        )

    def cancel(self) -> bool:
        return self._transition(
            [self.Status.QUEUED, self.Status.RUNNING],
            status=self.Status.CANCELLED,
            cancel_requested=True,
            finished_at=timezone.now(),
            unreachable_since=None,
        )

    def requeue(self, error: str = "") -> bool:
        """running -> queued, for a retry after a transient failure.

        prompt_id and client_id stay: the retry re-attaches to a prompt ComfyUI still has.
        """
        return self._transition([self.Status.RUNNING], status=self.Status.QUEUED, error=error)

    def lose_server(self) -> bool:
        """A running job's ComfyUI stopped answering: it keeps its place while the runner waits."""
        updated = Generation.objects.filter(
            pk=self.pk, status=self.Status.RUNNING, unreachable_since__isnull=True
        ).update(unreachable_since=timezone.now(), heartbeat_at=timezone.now())
        if updated:
            self.refresh_from_db(fields=["unreachable_since", "heartbeat_at"])
        return bool(updated)

    def regain_server(self) -> bool:
        return self._transition([self.Status.RUNNING], unreachable_since=None)

    def move_to(self, server: str, reason: str) -> bool:
        """A job whose ComfyUI went away goes to another server, keeping its status (queued or running).

        It starts there from the beginning: the new server never saw its prompt.
        """
        return self._transition(
            self.ACTIVE,
            server=server,
            prompt_id="",
            progress=0.0,
            progress_value=0,
            progress_max=0,
            unreachable_since=None,
            heartbeat_at=timezone.now(),
            error=reason,
        )

    def set_progress(self, value: int, maximum: int) -> None:
        fraction = (value / maximum) if maximum else 0.0
        Generation.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
            progress=fraction, progress_value=value, progress_max=maximum, heartbeat_at=timezone.now()
        )
        self.progress, self.progress_value, self.progress_max = fraction, value, maximum


def media_upload_path(instance: "MediaOutput", filename: str) -> str:
    return f"sessions/{instance.generation.session_id}/generations/{instance.generation_id}/{filename}"


class MediaOutput(models.Model):
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="outputs")
    file = models.FileField(upload_to=media_upload_path, max_length=500)
    kind = models.CharField(max_length=8, choices=MediaKind.choices, default=MediaKind.IMAGE)
    content_type = models.CharField(max_length=100, blank=True)
    node_id = models.CharField(max_length=64, blank=True)
    original_filename = models.CharField(max_length=300, blank=True)
    # ComfyUI's (node, filename, subfolder, type): the same output is never stored twice.
    source_key = models.CharField(max_length=600)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    favourite = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["generation", "pk"]
        constraints = [models.UniqueConstraint(fields=["generation", "source_key"], name="media_output_unique_source")]

    def __str__(self) -> str:
        return self.original_filename or self.file.name

    @property
    def plays_as_video(self) -> bool:
        """Shown in a <video> element; an animated WEBP, PNG or GIF (a video to the studio) is an <img>."""
        return self.content_type.startswith("video/")


class CustomWorkflow(models.Model):
    """A user's own ComfyUI workflow (API format) with where the brief's values go."""

    MAPPABLE = ("positive_prompt", "negative_prompt", "seed", "width", "height", "steps")

    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="custom_workflow")
    name = models.CharField(max_length=200)
    graph = models.JSONField()
    # brief field -> [node_id, input_name]
    mapping = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ModelFamily(models.Model):
    """Which family a model file is, as its owner says: for a file whose name does not tell (a finetune called
    "dreamy_v3" is taken for SD1.5 when it is SDXL)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_families")
    model = models.CharField(max_length=300)
    family = models.CharField(max_length=40, choices=[(key, family.label) for key, family in FAMILIES.items()])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "model"], name="one_family_per_model_and_owner")]

    def __str__(self) -> str:
        return f"{self.model}: {self.family}"
