from django import forms
from django.conf import settings

from generations.models import CustomWorkflow
from generations.services.brief_spec import LIMITS, MAX_PROMPT_CHARS, MAX_SEED
from generations.services.generate import TEMPLATE_CHOICES


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

    def clean_template(self):
        return self.cleaned_data.get("template") or "auto"

    def brief(self) -> dict:
        data = {key: value for key, value in self.cleaned_data.items() if value is not None}
        data.pop("template", None)
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
