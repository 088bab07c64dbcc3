from django.urls import path

from generations import views

app_name = "generations"
urlpatterns = [
    path("sessions/<int:session_id>/gallery/", views.gallery, name="gallery"),
    path("gallery/", views.all_outputs, name="all_outputs"),
    path("gallery/<int:output_id>/", views.viewer, name="viewer"),
    path("gallery/<int:output_id>/favourite/", views.favourite, name="favourite"),
    path("gallery/<int:output_id>/delete/", views.delete_output, name="delete_output"),
    path("sessions/<int:session_id>/workflow/", views.workflow_upload, name="workflow_upload"),
    path("sessions/<int:session_id>/workflow/delete/", views.workflow_delete, name="workflow_delete"),
    path("sessions/<int:session_id>/model-family/", views.model_family, name="model_family"),
    path("generations/<int:generation_id>/cancel/", views.cancel, name="cancel"),
    path("generations/<int:generation_id>/variation/", views.variation, name="variation"),
    path("generations/<int:generation_id>/rework/", views.rework, name="rework"),
    path("generations/<int:generation_id>/reproduce/", views.reproduce, name="reproduce"),
    path("media/<int:output_id>/", views.media, name="media"),
    path("media/<int:output_id>/download/", views.media, {"download": True}, name="download"),
    path("media/<path:path>", views.media_file, name="media_file"),
]
