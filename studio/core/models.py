from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


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
        return reverse("specialists:studio", args=[self.pk])

    def model_for(self, role: str) -> str:
        return self.model_assignments.get(role) or settings.LLM_DEFAULT_MODEL

    def touch(self) -> None:
        Session.objects.filter(pk=self.pk).update(updated_at=timezone.now())
