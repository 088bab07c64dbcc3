"""The auto-refine loop's card: its attempts strip and where the loop stands."""

from django.utils import timezone

from generations.models import MediaKind
from specialists.models import Message, RefineLoop
from specialists.services.brief_changes import brief_changes
from specialists.services.refine_loop import ending_text


def _elapsed(loop: RefineLoop) -> str:
    seconds = int(((loop.ended_at or timezone.now()) - loop.started_at).total_seconds())
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def status_line(loop: RefineLoop) -> str:
    best = f" · best {loop.best_score}/10" if loop.best_score is not None else ""
    if loop.status == RefineLoop.Status.RUNNING:
        return (
            f"Attempt {min(loop.attempts + 1, loop.max_attempts)} of {loop.max_attempts}{best} · "
            f"aiming for {loop.threshold}/10 · {_elapsed(loop)}"
        )
    if loop.status == RefineLoop.Status.PAUSED:
        return f"Paused while you talk to the team{best} · press Resume to let it go on."
    return f"{ending_text(loop)} ({_elapsed(loop)})"


def attempts(loop: RefineLoop) -> list[dict]:
    rows, before = [], None
    for number, review in enumerate(loop.reviews.select_related("generation").order_by("pk"), start=1):
        generation = review.generation
        parameters = generation.parameters if generation is not None else {}
        picture = generation.outputs.filter(kind=MediaKind.IMAGE).order_by("pk").first() if generation else None
        changes = brief_changes(before, parameters) if before is not None else []
        rows.append(
            {
                "number": number,
                "review": review,
                "output": picture,
                "keeper": review.pk == loop.keeper_id,
                "changes": ("; ".join(changes) or "same brief") if before is not None else "first attempt",
            }
        )
        before = parameters
    return rows


def card_context(message: Message) -> dict:
    loop = RefineLoop.objects.filter(card=message).first()
    if loop is None:
        return {"loop": None}
    return {"loop": loop, "loop_status": status_line(loop), "attempts": attempts(loop)}
