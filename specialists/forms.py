from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator

from specialists.personas import PERSONAS
from specialists.services.critique import SCORE_MAX
from specialists.services.refine_loop import MAX_ATTEMPTS
from studio.core.models import Session

TITLE_MAX_CHARS = Session._meta.get_field("title").max_length


class NewSessionForm(forms.Form):
    idea = forms.CharField(strip=True)
    title = forms.CharField(max_length=TITLE_MAX_CHARS, required=False, strip=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at request time so the limit follows the settings in force.
        self.fields["idea"].max_length = settings.MESSAGE_MAX_CHARS
        self.fields["idea"].validators.append(MaxLengthValidator(settings.MESSAGE_MAX_CHARS))

    def clean_idea(self):
        idea = self.cleaned_data["idea"]
        if not idea:
            raise forms.ValidationError("Describe your idea in a few words.")
        return idea

    def title_or_default(self) -> str:
        title = self.cleaned_data.get("title")
        if title:
            return title
        idea = " ".join(self.cleaned_data["idea"].split())
        return idea if len(idea) <= 60 else idea[:57].rsplit(" ", 1)[0] + "…"


class SessionSettingsForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX_CHARS, strip=True)
    concurrent = forms.BooleanField(required=False, label="Let independent specialists answer at the same time")
    show_thinking = forms.BooleanField(
        required=False, label="Show a thinking model's reasoning (folded, under its reply)"
    )
    ideation_rounds = forms.IntegerField(min_value=1, max_value=10, label="Ideation rounds before moving on")
    refinement_rounds = forms.IntegerField(min_value=1, max_value=10, label="Refinement rounds before moving on")
    refine_on = forms.BooleanField(required=False, label="Refine each result automatically")
    refine_attempts = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_ATTEMPTS, label="Attempts at most, the first included"
    )
    refine_threshold = forms.IntegerField(
        required=False, min_value=1, max_value=SCORE_MAX, label="Auto-refine stops at this score (of 10)"
    )
    auto_continue = forms.BooleanField(
        required=False, label="Move on to the next phase by itself when a round ends, instead of waiting for you"
    )
    clarify = forms.BooleanField(
        required=False, label="Let the team ask one short question when your idea leaves something open"
    )

    def __init__(self, *args, models: list[tuple[str, str]], default: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_fields = add_model_fields(self, models, default)

    def assignments(self) -> dict:
        return assignments_of(self.cleaned_data)


def default_choice(default: str | None) -> tuple[str, str]:
    """ "Default", saying which model it stands for while one is installed."""
    return ("", f"Default ({default})" if default else "Default (the studio picks an installed model)")


def add_model_fields(form: forms.Form, models: list[tuple[str, str]], default: str | None) -> list:
    """A model choice per specialist; ``models``: (name, label) pairs, the label saying what the model can do."""
    choices = [default_choice(default), *models]
    bound = []
    for role, persona in PERSONAS.items():
        name = f"model_{role}"
        form.fields[name] = forms.ChoiceField(
            choices=choices, required=False, label=f"{persona.name} — {persona.title}"
        )
        bound.append(form[name])
    return bound


def assignments_of(cleaned_data: dict) -> dict:
    return {role: cleaned_data[f"model_{role}"] for role in PERSONAS if cleaned_data.get(f"model_{role}")}


class TeamModelsForm(forms.Form):
    """The team bar's model picker: each specialist's model, nothing else."""

    def __init__(self, *args, models: list[tuple[str, str]], default: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_fields = add_model_fields(self, models, default)

    def assignments(self) -> dict:
        return assignments_of(self.cleaned_data)
