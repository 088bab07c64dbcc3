from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studio.core.forms import AdminSignInForm, SignInForm

# The admin's own sign-in page is throttled like the studio's.
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("studio.core.urls")),
    path("", include("specialists.urls")),
    path("", include("generations.urls")),
]
