"""The models a specialist can be given, as choices: each labelled with what its engine says it can do."""

from dataclasses import dataclass

from asgiref.sync import async_to_sync

from specialists.services import llm
from studio.core.models import Session

CAPABILITY_WORDS = {"vision": "sees images", "thinking": "thinks first", "tools": "uses tools"}


def model_choice(model) -> tuple[str, str]:
    """A model as a choice, labelled with what its engine says it can do: "llava:7b — sees images"."""
    caps = model.capabilities
    if caps is None or not caps.known:
        return model.name, model.name
    can = [CAPABILITY_WORDS[label] for label in caps.labels()]
    return model.name, f"{model.name} — {', '.join(can) if can else 'text only'}"


@dataclass
class ModelOptions:
    installed: list
    notice: str | None  # why the engine could not be asked, when it could not
    choices: list[tuple[str, str]]
    default: str | None  # the model "Default" stands for


def model_options(session: Session) -> ModelOptions:
    installed, notice = async_to_sync(llm.list_models)()
    choices = [model_choice(m) for m in installed]
    # Keep assignments to models that are not installed visible, so they can be changed.
    names = {name for name, _ in choices}
    choices += [(m, f"{m} (not installed)") for m in session.model_assignments.values() if m and m not in names]
    return ModelOptions(installed, notice, choices, llm.default_model(installed))
