from django.db import transaction

from specialists.models import Conversation, Role
from specialists.services import refine_loop, supervisor
from studio.core.models import Session


@transaction.atomic
def start_session(user, title: str, idea: str) -> Session:
    session = Session.objects.create(owner=user, title=title)
    conversation = Conversation.objects.create(session=session)
    conversation.append_message(Role.USER, idea)
    # The team answers the idea straight away, whether or not a page is open yet.
    transaction.on_commit(lambda: supervisor.wake_sync(conversation.pk))
    return session


def update_settings(session: Session, data: dict, assignments: dict) -> None:
    session.title = data["title"]
    session.model_assignments = assignments
    session.settings = {
        **session.settings,
        "concurrent": bool(data["concurrent"]),
        "show_thinking": bool(data.get("show_thinking")),
        "rounds": {"ideation": data["ideation_rounds"], "refinement": data["refinement_rounds"]},
        "auto_refine": {
            "on": bool(data.get("refine_on")),
            "attempts": data.get("refine_attempts") or refine_loop.DEFAULT_ATTEMPTS,
            "threshold": data.get("refine_threshold") or refine_loop.DEFAULT_THRESHOLD,
        },
        "clarify": bool(data.get("clarify")),
        "auto_continue": bool(data.get("auto_continue")),
    }
    session.save(update_fields=["title", "model_assignments", "settings", "updated_at"])


def assign_models(session: Session, assignments: dict) -> None:
    """Each specialist's model (absent: the default); the rest of the session stays as it is."""
    session.model_assignments = assignments
    session.save(update_fields=["model_assignments", "updated_at"])


def set_muted(session: Session, role: str, muted: bool) -> None:
    """Add or take ``role`` out of the session's muted specialists (idempotent); the rest of the settings stay."""
    with transaction.atomic():
        locked = Session.objects.select_for_update().get(pk=session.pk)
        roles = [r for r in locked.settings.get("muted") or [] if r != role] + ([role] if muted else [])
        locked.settings = {**locked.settings, "muted": roles}
        locked.save(update_fields=["settings", "updated_at"])
    session.settings = locked.settings


def delete_session(session: Session) -> None:
    session.delete()  # its generations' media files go with their rows (generations' post_delete)
