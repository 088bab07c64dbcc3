"""The artist's sessions as the home page lists them: newest activity first, each with its latest picture and
the phase its conversation is in, a page at a time."""

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Subquery

from generations.models import MediaKind, MediaOutput
from specialists.models import Conversation, Phase
from studio.core.models import Session

SESSIONS_PER_PAGE = 25
PHASE_LABELS = dict(Phase.choices)


def page_of(user, number) -> Page:
    latest_picture = MediaOutput.objects.filter(
        generation__session=OuterRef("pk"), kind=MediaKind.IMAGE
    ).order_by("-created_at", "-pk")
    current = Conversation.objects.filter(session=OuterRef("pk")).order_by("-created_at", "-pk")
    sessions = (
        Session.objects.filter(owner=user)
        .annotate(thumbnail_id=Subquery(latest_picture.values("pk")[:1]), phase=Subquery(current.values("phase")[:1]))
        .order_by("-updated_at", "-pk")
    )
    page = Paginator(sessions, SESSIONS_PER_PAGE).get_page(number)
    for session in page.object_list:
        session.phase_label = PHASE_LABELS.get(session.phase or Phase.IDEATION, "")
    return page
