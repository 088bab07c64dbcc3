from django import forms
from django.conf import settings

from generations.models import CustomWorkflow
from generations.services.brief_spec import (
    BATCH_COUNT,
    CUSTOM_ASPECT,
    LIMITS,
    MAX_LORAS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
)
from generations.services.generate import TEMPLATE_CHOICES
from generations.workflows.families import ASPECTS
from generations.workflows.styles import STYLES


class _ErrorText:
    def error_text(self) -> str:
        parts = []
        for field, errors in self.errors.items():
            if field in self.fields:
                parts.append(f"{self[field].label}: {' '.join(errors)}")
            else:
                parts.append(" ".join(errors))
        return "; ".join(parts)


class BriefForm(_ErrorText, forms.Form):
    """The editable brief card. Values are validated again (and clamped) by normalize_brief."""

    positive_prompt = forms.CharField(max_length=MAX_PROMPT_CHARS, label="Prompt")
    negative_prompt = forms.CharField(max_length=MAX_PROMPT_CHARS, required=False, label="Negative prompt")
    checkpoint = forms.CharField(max_length=300, required=False)
    width = forms.IntegerField(min_value=LIMITS["width"].lo, max_value=LIMITS["width"].hi)
    height = forms.IntegerField(min_value=LIMITS["height"].lo, max_value=LIMITS["height"].hi)
    steps = forms.IntegerField(min_value=LIMITS["steps"].lo, max_value=LIMITS["steps"].hi)
    cfg = forms.FloatField(min_value=LIMITS["cfg"].lo, max_value=LIMITS["cfg"].hi, label="CFG")
    sampler = forms.CharField(max_length=100)
    scheduler = forms.CharField(max_length=100)
    seed = forms.IntegerField(min_value=0, max_value=MAX_SEED)
    frames = forms.IntegerField(
        min_value=LIMITS["frames"].lo, max_value=LIMITS["frames"].hi, required=False, label="Frames"
    )
    fps = forms.IntegerField(min_value=LIMITS["fps"].lo, max_value=LIMITS["fps"].hi, required=False, label="FPS")
    media_kind = forms.ChoiceField(choices=[("image", "Image"), ("video", "Video")], label="Kind")
    template = forms.ChoiceField(choices=[(t, t) for t in TEMPLATE_CHOICES], required=False)
    aspect = forms.ChoiceField(choices=[(a, a) for a in (*ASPECTS, CUSTOM_ASPECT)], required=False)
    style = forms.ChoiceField(
        choices=[("", "none"), *((key, style.label) for key, style in STYLES.items())], required=False
    )
    count = forms.IntegerField(min_value=BATCH_COUNT.lo, max_value=BATCH_COUNT.hi, required=False, label="How many")
    new_seed = forms.BooleanField(required=False, label="New seed each time")

    def batch(self) -> dict:
        """How many pictures, and whether each takes a new seed."""
        return {"count": self.cleaned_data.get("count") or 1, "fresh_seed": bool(self.cleaned_data.get("new_seed"))}

    def clean_template(self):
        return self.cleaned_data.get("template") or "auto"

    def clean(self):
        cleaned = super().clean()
        cleaned["loras"] = self._loras()
        return cleaned

    def _loras(self) -> list[dict]:
        """The card's LoRA rows (a select and a strength each); a row left at "None" is no LoRA."""
        names = self.data.getlist("lora") if hasattr(self.data, "getlist") else []
        strengths = self.data.getlist("lora_strength") if hasattr(self.data, "getlist") else []
        bound = LIMITS["lora_strength"]
        chosen = []
        for index, name in enumerate(names):
            name = name.strip()
            if not name:
                continue
            try:
                strength = float(strengths[index]) if index < len(strengths) and strengths[index].strip() else 1.0
            except ValueError:
                self.add_error(None, f"LoRA {name}: the strength must be a number between {bound.describe()}.")
                continue
            if not bound.lo <= strength <= bound.hi:
                self.add_error(None, f"LoRA {name}: the strength must be between {bound.describe()}.")
                continue
            chosen.append({"name": name[:300], "strength": strength})
        if len(chosen) > MAX_LORAS:
            self.add_error(None, f"A brief takes up to {MAX_LORAS} LoRAs.")
        return chosen

    def brief(self) -> dict:
        data = {key: value for key, value in self.cleaned_data.items() if value is not None}
        for choice in ("template", "count", "new_seed"):  # how to render, not what
            data.pop(choice, None)
        if not data.get("aspect"):
            data.pop("aspect", None)
        return data


class WorkflowUploadForm(_ErrorText, forms.Form):
    name = forms.CharField(max_length=200, required=False)
    workflow = forms.FileField(label="API-format workflow (.json)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in CustomWorkflow.MAPPABLE:
            # Every target is optional: a workflow may take no prompt at all (the card then says so).
            self.fields[f"map_{field}"] = forms.CharField(max_length=120, required=False, label=field.replace("_", " "))

    def clean_workflow(self):
        upload = self.cleaned_data["workflow"]
        if upload.size > settings.WORKFLOW_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"the file is {upload.size:,} bytes; the limit is {settings.WORKFLOW_UPLOAD_MAX_BYTES:,}"
            )
        return upload

    def raw(self) -> bytes:
        return self.cleaned_data["workflow"].read(settings.WORKFLOW_UPLOAD_MAX_BYTES + 1)

    def targets(self) -> dict[str, str]:
        return {field: self.cleaned_data.get(f"map_{field}", "") for field in CustomWorkflow.MAPPABLE}
