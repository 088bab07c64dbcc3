from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from specialists.personas import PERSONAS
from studio.core.forms import NewSessionForm, SessionSettingsForm
from studio.core.models import Session
from studio.core.services import chat_html, sessions


def _owned(request, session_id: int) -> Session:
    return get_object_or_404(Session, pk=session_id, owner=request.user)


def home(request):
    return render(
        request,
        "core/home.html",
        {
            "sessions": Session.objects.filter(owner=request.user)[:50],
            "form": NewSessionForm(),
            "max_chars": settings.MESSAGE_MAX_CHARS,
        },
    )


@require_POST
def session_create(request):
    form = NewSessionForm(request.POST)
    if not form.is_valid():
        context = {"sessions": Session.objects.filter(owner=request.user)[:50], "form": form}
        return render(request, "core/home.html", {**context, "max_chars": settings.MESSAGE_MAX_CHARS}, status=400)
    session = sessions.start_session(request.user, form.title_or_default(), form.cleaned_data["idea"])
    return redirect(session)


def studio(request, session_id: int):
    session = _owned(request, session_id)
    conversation = session.current_conversation
    return render(
        request,
        "core/studio.html",
        {
            "session": session,
            "conversation": conversation,
            "messages_html": chat_html.render_messages(conversation),
            "personas": PERSONAS.values(),
            "max_chars": settings.MESSAGE_MAX_CHARS,
            **chat_html.phase_context(conversation),
        },
    )


@require_http_methods(["GET", "POST"])
def session_settings(request, session_id: int):
    session = _owned(request, session_id)
    from specialists.services import llm

    installed, notice = async_to_sync(llm.list_models)()
    names = [m.name for m in installed]
    # Keep assignments to models that are not installed visible, so they can be changed.
    names += [m for m in session.model_assignments.values() if m and m not in names]
    rounds = session.settings.get("rounds", {})
    initial = {
        "title": session.title,
        "concurrent": session.settings.get("concurrent", settings.STUDIO_CONCURRENT_ROUNDS),
        "ideation_rounds": rounds.get("ideation", 2),
        "refinement_rounds": rounds.get("refinement", 1),
        **{f"model_{role}": model for role, model in session.model_assignments.items()},
    }
    form = SessionSettingsForm(request.POST or None, initial=initial, models=names)
    if request.method == "POST" and form.is_valid():
        sessions.update_settings(session, form.cleaned_data, form.assignments())
        messages.success(request, "Settings saved.")
        return redirect("core:session_settings", session.pk)
    status = 400 if request.method == "POST" else 200
    context = {"session": session, "form": form, "engine_notice": notice, "models": installed}
    return render(request, "core/settings.html", context, status=status)


@require_POST
def session_delete(request, session_id: int):
    session = _owned(request, session_id)
    sessions.delete_session(session)
    messages.success(request, f"Deleted “{session.title}”.")
    return redirect("core:home")
