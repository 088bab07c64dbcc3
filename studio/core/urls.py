from django.urls import path

from studio.core import views, views_health

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views_health.healthz, name="healthz"),
    path("sessions/new/", views.session_create, name="session_create"),
    path("sessions/<int:session_id>/", views.studio, name="studio"),
    path("sessions/<int:session_id>/settings/", views.session_settings, name="session_settings"),
    path("sessions/<int:session_id>/delete/", views.session_delete, name="session_delete"),
]
