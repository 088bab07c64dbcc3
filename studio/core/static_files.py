"""Static files served by the studio itself, so a local install needs no web server."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404


class StaticFiles(ASGIStaticFilesHandler):
    """A path that climbs out of the static folders is simply not there: 404, never a 500."""

    def serve(self, request):
        try:
            return super().serve(request)
        except (SuspiciousFileOperation, ValueError) as exc:
            raise Http404("No such static file") from exc
