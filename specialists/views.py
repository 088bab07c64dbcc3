from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from generations.forms import BriefForm
from generations.models import Generation
from generations.services import family_settings, generate
from generations.services.brief import BriefError
from generations.views import action_done, over_the_limit
from specialists.forms import NewSessionForm, SessionSettingsForm, TeamModelsForm
from specialists.models import Conversation, Message, ModelPull, Phase, RefineLoop, Role
from specialists.personas import PERSONAS
from specialists.services import (
    chat_html,
    engines,
    open_decisions,
    pulls,
    results,
    reviewing,
    session_list,
    sessions,
    supervisor,
)
from specialists.services import refine_loop as refine_loop_service
from specialists.services.model_options import model_options
from specialists.services.phases import plan_for
from specialists.services.turns import is_paused, turn_cue
from studio.core.models import Session

PULLS_SHOWN = 5


def _owned(request, session_id: int) -> Session:
    return get_object_or_404(Session, pk=session_id, owner=request.user)


def _home(request, form: NewSessionForm, status: int = 200):
    page = session_list.page_of(request.user, request.GET.get("page"))
    context = {"sessions": page, "form": form, "max_chars": settings.MESSAGE_MAX_CHARS}
    return render(request, "core/home.html", context, status=status)


def home(request):
    return _home(request, NewSessionForm())


@require_POST
def session_create(request):
    form = NewSessionForm(request.POST)
    if not form.is_valid():
        return _home(request, form, status=400)
    session = sessions.start_session(request.user, form.title_or_default(), form.cleaned_data["idea"])
    return redirect(session)


def studio(request, session_id: int):
    session = _owned(request, session_id)
    conversation = Conversation.objects.current(session)
    return render(
        request,
        "core/studio.html",
        {
            "session": session,
            "messages_html": chat_html.render_messages(conversation),
            "paused": is_paused(conversation),
            "cue": turn_cue(conversation),
            **chat_html.team_context(session),
            "max_chars": settings.MESSAGE_MAX_CHARS,
            **chat_html.phase_context(conversation),
        },
    )


@require_http_methods(["GET", "POST"])
def session_settings(request, session_id: int):
    session = _owned(request, session_id)
    models = model_options(session)
    rounds = session.settings.get("rounds", {})
    initial = {
        "title": session.title,
        "concurrent": session.settings.get("concurrent", settings.STUDIO_CONCURRENT_ROUNDS),
        "show_thinking": session.settings.get("show_thinking", False),
        "ideation_rounds": rounds.get(Phase.IDEATION, plan_for(Phase.IDEATION).max_rounds),
        "refinement_rounds": rounds.get(Phase.REFINEMENT, plan_for(Phase.REFINEMENT).max_rounds),
        "refine_on": refine_loop_service.setting_of(session).on,
        "refine_attempts": refine_loop_service.setting_of(session).max_attempts,
        "refine_threshold": refine_loop_service.setting_of(session).threshold,
        "clarify": open_decisions.wanted(session),
        "auto_continue": session.settings.get("auto_continue") is True,
        **{f"model_{role}": model for role, model in session.model_assignments.items()},
    }
    if request.method == "POST" and (refused := over_the_limit(request, session, then=request.path)):
        return refused
    form = SessionSettingsForm(request.POST or None, initial=initial, models=models.choices, default=models.default)
    if request.method == "POST" and form.is_valid():
        sessions.update_settings(session, form.cleaned_data, form.assignments())
        messages.success(request, "Settings saved.")
        return redirect("specialists:session_settings", session.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "session": session,
        "form": form,
        "engine_notice": models.notice,
        "models": models.installed,
        "pulls": ModelPull.objects.filter(requested_by=request.user)[:PULLS_SHOWN],
        "family_servers": family_settings.servers(request.user.pk),
        "model_rows": family_settings.model_rows(request.user.pk),
    }
    return render(request, "core/settings.html", context, status=status)


@require_POST
def model_pull_start(request, session_id: int):
    session = _owned(request, session_id)
    settings_page = reverse("specialists:session_settings", args=[session.pk])
    if refused := over_the_limit(request, session, then=settings_page):
        return refused
    try:
        pull = pulls.start(request.user, request.POST.get("model", ""))
    except pulls.PullRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Downloading {pull.model} into Ollama; it can take a while.")
    return redirect(settings_page)


def _owned_pull(request, pull_id: int) -> ModelPull:
    return get_object_or_404(ModelPull, pk=pull_id, requested_by=request.user)


def model_pull(request, pull_id: int):
    """The pull's progress fragment (htmx polls it while it runs)."""
    return render(request, "specialists/_model_pull.html", {"pull": _owned_pull(request, pull_id)})


@require_POST
def model_pull_cancel(request, pull_id: int):
    pull = _owned_pull(request, pull_id)
    pull.request_cancel()
    pull.refresh_from_db()
    return render(request, "specialists/_model_pull.html", {"pull": pull})


@require_POST
def session_delete(request, session_id: int):
    session = _owned(request, session_id)
    if refused := over_the_limit(request, session):
        return refused
    sessions.delete_session(session)
    messages.success(request, f"Deleted “{session.title}”.")
    return redirect("specialists:home")


@require_POST
def generate_from_brief(request, session_id: int, message_id: int):
    session = _owned(request, session_id)
    get_object_or_404(
        Message, pk=message_id, conversation__session=session, role=Role.TECHNICAL, kind=Message.Kind.BRIEF
    )
    if refused := over_the_limit(request, session):
        return refused
    form = BriefForm(request.POST)
    if not form.is_valid():
        return action_done(request, session, form.error_text())
    try:
        generate.start_batch(
            session, form.brief(), user=request.user, template=form.cleaned_data["template"], **form.batch()
        )
    except BriefError as exc:
        return action_done(request, session, f"Could not start the generation: {exc}.")
    return action_done(request, session)


@require_POST
def refine(request, generation_id: int):
    generation = get_object_or_404(
        Generation.objects.select_related("session"), pk=generation_id, session__owner=request.user
    )
    if refused := over_the_limit(request, generation.session):
        return refused
    results.refine(generation)
    return action_done(request, generation.session)


@require_POST
def refine_loop(request, session_id: int, loop_id: int):
    """A button on the auto-refine card: stop, accept, resume, keep an attempt, refine from one."""
    session = _owned(request, session_id)
    loops = RefineLoop.objects.select_related("conversation")
    loop = get_object_or_404(loops, pk=loop_id, conversation__session=session)
    if refused := over_the_limit(request, session):
        return refused
    try:
        outcome = refine_loop_service.act(loop, request.POST.get("action", ""), request.POST.get("review"))
    except refine_loop_service.LoopRefused as exc:
        return action_done(request, session, str(exc))
    reviewing.tell_sync(session.pk, outcome)
    supervisor.wake_sync(loop.conversation_id)
    return action_done(request, session)


@require_http_methods(["GET", "POST"])
def team_models(request, session_id: int):
    """The team bar's model picker: GET the form (loaded when opened), POST to give specialists their models."""
    session = _owned(request, session_id)
    models = model_options(session)
    initial = {f"model_{role}": model for role, model in session.model_assignments.items()}
    form = TeamModelsForm(request.POST or None, initial=initial, models=models.choices, default=models.default)
    if request.method == "POST":
        if refused := over_the_limit(request, session):
            return refused
        if form.is_valid():
            sessions.assign_models(session, form.assignments())
            if request.htmx:
                return render(
                    request, "specialists/_team.html", {"session": session, **chat_html.team_context(session)}
                )
            return redirect(session)
    context = {"session": session, "form": form, "engine_notice": models.notice}
    if request.method == "GET":
        return render(request, "specialists/_team_models.html", context)
    # The refusal goes back into the open picker, not over the team bar.
    response = render(request, "specialists/_team_models.html", context, status=400)
    return reswap(retarget(response, "#team-models-panel"), "innerHTML")


@require_POST
def team_mute(request, session_id: int, role: str):
    """Keep a specialist out of the rounds, or bring them back; named by the artist, they still answer."""
    session = _owned(request, session_id)
    if role not in PERSONAS:
        raise Http404("No such specialist.")
    sessions.set_muted(session, role, request.POST.get("muted") == "1")
    if request.htmx:
        return render(request, "specialists/_team.html", {"session": session, **chat_html.team_context(session)})
    return redirect(session)


# Often enough to see an engine come up while starting it; /object_info is several MB, so not every second.
ENGINES_REFRESH_SECONDS = 15


def engines_page(request):
    """What check_engines reports, for whoever runs the install (the local user on loopback): engine
    addresses and models are the install's, not an artist's."""
    if not request.user.is_staff:
        raise PermissionDenied("Only the studio's administrator sees the engines.")
    context = {"report": engines.engine_report(), "refresh_seconds": ENGINES_REFRESH_SECONDS}
    template = "specialists/_engines.html" if request.htmx else "specialists/engines.html"
    return render(request, template, context)
