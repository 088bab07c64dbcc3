from django.urls import path

from studio.core import views_health

app_name = "core"
urlpatterns = [
    path("healthz", views_health.healthz, name="healthz"),
]
