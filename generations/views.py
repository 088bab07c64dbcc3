from csp.constants import NONE, SELF
from csp.decorators import csp
from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from generations.forms import WorkflowUploadForm
from generations.models import Generation, MediaOutput
from generations.services import custom_workflow, family_settings, generate
from generations.services import gallery as gallery_service
from generations.services.brief import BriefError
from studio.core.models import Session
from studio.core.services import action_limit


def _owned_session(request, session_id: int) -> Session:
    return get_object_or_404(Session, pk=session_id, owner=request.user)


def _owned_generation(request, generation_id: int) -> Generation:
    return get_object_or_404(
        Generation.objects.select_related("session"), pk=generation_id, session__owner=request.user
    )


def action_done(request, session: Session, error: str = "", *, status: int = 400, then=None):
    """htmx gets a small fragment (the card itself updates over the websocket); a plain form post is redirected
    (to ``then``, else the session)."""
    if request.htmx:
        html = render_to_string("generations/_action_result.html", {"error": error})
        return HttpResponse(html, status=status if error else 200)
    if error:
        messages.error(request, error)
    return redirect(then or session)


def over_the_limit(request, session: Session, *, then=None) -> HttpResponse | None:
    """The answer to an action refused by the session's rate limit, or None when it may go ahead."""
    try:
        action_limit.spend(session.pk)
    except action_limit.TooManyActions as exc:
        return action_done(request, session, str(exc), status=429, then=then)
    return None


def _action(request, generation_id: int, action) -> HttpResponse:
    generation = _owned_generation(request, generation_id)
    if refused := over_the_limit(request, generation.session):
        return refused
    try:
        action(generation)
    except BriefError as exc:
        return action_done(request, generation.session, f"{exc}.")
    return action_done(request, generation.session)


@require_POST
def cancel(request, generation_id: int):
    return _action(request, generation_id, generate.cancel)


@require_POST
def variation(request, generation_id: int):
    return _action(request, generation_id, lambda g: generate.variation(g, user=request.user))


@require_POST
def rework(request, generation_id: int):
    return _action(request, generation_id, lambda g: generate.rework(g, user=request.user))


@require_POST
def reproduce(request, generation_id: int):
    return _action(request, generation_id, lambda g: generate.reproduce(g, user=request.user))


def gallery(request, session_id: int):
    """A session's gallery is the gallery filtered by that session."""
    session = _owned_session(request, session_id)
    return redirect(f"{reverse('generations:all_outputs')}?{gallery_service.Filters(session=session.pk).query()}")


def all_outputs(request):
    """Everything the artist made, filtered by session, kind and favourites, a page at a time."""
    filters = gallery_service.Filters.from_query(request.GET)
    sessions = Session.objects.filter(owner=request.user).order_by("-updated_at")
    context = {
        "page": gallery_service.page_of(request.user, filters, request.GET.get("page")),
        "filters": filters,
        "query": filters.query(),
        "sessions": sessions,
        "session": sessions.filter(pk=filters.session).first() if filters.session is not None else None,
    }
    return render(request, "generations/gallery.html", context)


def _owned_output(request, output_id: int) -> MediaOutput:
    outputs = MediaOutput.objects.select_related("generation__session")
    return get_object_or_404(outputs, pk=output_id, generation__session__owner=request.user)


def viewer(request, output_id: int):
    """One output large, its parameters beside it, the newer and older ones a key away."""
    output = _owned_output(request, output_id)
    filters = gallery_service.Filters.from_query(request.GET)
    newer, older = gallery_service.neighbours(request.user, output, filters)
    context = {"output": output, "generation": output.generation, "newer": newer, "older": older}
    return render(request, "generations/viewer.html", {**context, "query": filters.query()})


@require_POST
def favourite(request, output_id: int):
    output = _owned_output(request, output_id)
    gallery_service.set_favourite(output, request.POST.get("favourite") == "1")
    if request.htmx:
        return render(request, "generations/_favourite.html", {"output": output})
    return redirect(_back_to_viewer(output, request))


@require_POST
def delete_output(request, output_id: int):
    output = _owned_output(request, output_id)
    filters = gallery_service.Filters.from_query(request.GET)
    _, older = gallery_service.neighbours(request.user, output, filters)
    gallery_service.delete(output)
    messages.success(request, "Deleted. The generation's parameters stay in the chat.")
    if older is not None:
        return redirect(f"{reverse('generations:viewer', args=[older.pk])}?{filters.query()}")
    return redirect(f"{reverse('generations:all_outputs')}?{filters.query()}")


def _back_to_viewer(output: MediaOutput, request) -> str:
    filters = gallery_service.Filters.from_query(request.GET)
    return f"{reverse('generations:viewer', args=[output.pk])}?{filters.query()}"


# A stored file opened on its own is a document of the studio's origin: it may show itself and nothing else.
MEDIA_POLICY = {"default-src": [NONE], "img-src": [SELF], "media-src": [SELF], "sandbox": [True]}


@csp(MEDIA_POLICY)
def media(request, output_id: int, download: bool = False):
    output = get_object_or_404(MediaOutput, pk=output_id, generation__session__owner=request.user)
    return _file_response(output, download=download)


@csp(MEDIA_POLICY)
def media_file(request, path: str):
    """settings.MEDIA_URL paths (what ``output.file.url`` gives) go through the same owner check."""
    output = get_object_or_404(MediaOutput, file=path, generation__session__owner=request.user)
    return _file_response(output, download="download" in request.GET)


def _file_response(output: MediaOutput, *, download: bool) -> FileResponse:
    response = FileResponse(
        output.file.open("rb"),
        content_type=output.content_type or "application/octet-stream",
        as_attachment=download,
        filename=output.original_filename or output.file.name.rsplit("/", 1)[-1],
    )
    # X-Content-Type-Options: nosniff is set on every response by SecurityMiddleware.
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _settings_page(session: Session) -> str:
    # The settings page belongs to the conversation's app: named by URL name only.
    return reverse("specialists:session_settings", args=[session.pk])


@require_POST
def workflow_upload(request, session_id: int):
    session = _owned_session(request, session_id)
    if refused := over_the_limit(request, session, then=_settings_page(session)):
        return refused
    form = WorkflowUploadForm(request.POST, request.FILES)
    error = "" if form.is_valid() else form.error_text()
    if not error:
        try:
            custom_workflow.save(session, form.cleaned_data["name"], form.raw(), form.targets())
        except custom_workflow.WorkflowInvalid as exc:
            error = str(exc)
    if error:
        # From the page (htmx) the sentence goes next to the form, which keeps the file and fields entered.
        return action_done(request, session, f"The workflow was not saved: {error}", then=_settings_page(session))
    messages.success(request, "Custom workflow saved. Choose “custom” on a brief to use it.")
    if request.htmx:
        return HttpResponseClientRedirect(_settings_page(session))
    return redirect(_settings_page(session))


@require_POST
def workflow_delete(request, session_id: int):
    session = _owned_session(request, session_id)
    if refused := over_the_limit(request, session, then=_settings_page(session)):
        return refused
    custom_workflow.CustomWorkflow.objects.filter(session=session).delete()
    messages.success(request, "Custom workflow removed.")
    return redirect(_settings_page(session))


@require_POST
def model_family(request, session_id: int):
    """Set (or clear) which family one of the farm's models is drawn as; back to the settings."""
    session = _owned_session(request, session_id)
    back = _settings_page(session) + "#model-families"
    if refused := over_the_limit(request, session, then=back):
        return refused
    model, family = request.POST.get("model", "").strip(), request.POST.get("family", "").strip()
    try:
        chosen = family_settings.set_family(request.user.pk, model, family)
    except family_settings.FamilyNotSet as exc:
        messages.error(request, f"The family was not set: {exc}.")
    else:
        how = "as you set" if family else "as its name tells"
        messages.success(request, f"{model} is drawn as {chosen.label if chosen else 'no known family'} ({how}).")
    return redirect(back)
