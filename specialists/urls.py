from django.urls import path

from specialists import views

app_name = "specialists"
urlpatterns = [
    path("", views.home, name="home"),
    path("sessions/new/", views.session_create, name="session_create"),
    path("engines/", views.engines_page, name="engines"),
    path("sessions/<int:session_id>/", views.studio, name="studio"),
    path("sessions/<int:session_id>/settings/", views.session_settings, name="session_settings"),
    path("sessions/<int:session_id>/delete/", views.session_delete, name="session_delete"),
    path("sessions/<int:session_id>/team/models/", views.team_models, name="team_models"),
    path("sessions/<int:session_id>/team/<str:role>/mute/", views.team_mute, name="team_mute"),
    path("sessions/<int:session_id>/briefs/<int:message_id>/generate/", views.generate_from_brief, name="generate"),
    path("generations/<int:generation_id>/refine/", views.refine, name="refine"),
    path("sessions/<int:session_id>/refine-loops/<int:loop_id>/", views.refine_loop, name="refine_loop"),
    path("sessions/<int:session_id>/models/pull/", views.model_pull_start, name="model_pull_start"),
    path("model-pulls/<int:pull_id>/", views.model_pull, name="model_pull"),
    path("model-pulls/<int:pull_id>/cancel/", views.model_pull_cancel, name="model_pull_cancel"),
]
