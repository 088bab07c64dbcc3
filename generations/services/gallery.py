"""Everything an artist has made, across sessions: filtered, paged, and one picture at a time in the viewer."""

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import QueryDict

from generations.models import MediaKind, MediaOutput

PER_PAGE = 24
KINDS = {"image": MediaKind.IMAGE, "video": MediaKind.VIDEO}


@dataclass(frozen=True)
class Filters:
    session: int | None = None
    kind: str = ""  # "", "image" or "video"
    favourites: bool = False

    @classmethod
    def from_query(cls, query: QueryDict) -> "Filters":
        """Whatever the address says; anything unreadable is simply no filter."""
        session = query.get("session", "")
        kind = query.get("kind", "")
        return cls(
            session=int(session) if session.isdigit() else None,
            kind=kind if kind in KINDS else "",
            favourites=query.get("favourites") == "1",
        )

    def query(self) -> str:
        """The same filters as an address's query string (without the page)."""
        parts = QueryDict(mutable=True)
        if self.session is not None:
            parts["session"] = str(self.session)
        if self.kind:
            parts["kind"] = self.kind
        if self.favourites:
            parts["favourites"] = "1"
        return parts.urlencode()


def outputs_of(user, filters: Filters):
    """The owner's outputs, newest first, within the filters."""
    found = MediaOutput.objects.filter(generation__session__owner=user).select_related("generation__session")
    if filters.session is not None:
        found = found.filter(generation__session_id=filters.session)
    if filters.kind:
        found = found.filter(kind=KINDS[filters.kind])
    if filters.favourites:
        found = found.filter(favourite=True)
    return found.order_by("-created_at", "-pk")


def page_of(user, filters: Filters, number) -> Page:
    return Paginator(outputs_of(user, filters), PER_PAGE).get_page(number)


def neighbours(user, output: MediaOutput, filters: Filters) -> tuple[MediaOutput | None, MediaOutput | None]:
    """The newer and the older output next to ``output`` in the same filtered list (None at either end)."""
    listed = outputs_of(user, filters)
    newer = (
        listed.filter(created_at__gt=output.created_at)
        | listed.filter(created_at=output.created_at, pk__gt=output.pk)
    ).order_by("created_at", "pk").first()
    older = (
        listed.filter(created_at__lt=output.created_at)
        | listed.filter(created_at=output.created_at, pk__lt=output.pk)
    ).first()
    return newer, older


def set_favourite(output: MediaOutput, favourite: bool) -> None:
    MediaOutput.objects.filter(pk=output.pk).update(favourite=favourite)
    output.favourite = favourite


@transaction.atomic
def delete(output: MediaOutput) -> None:
    """The output and its file (post_delete); the generation and its parameters stay in the chat."""
    output.delete()
