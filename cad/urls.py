from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cad.accounts import views as sign_in
from cad.admin import admin_own_password_change
from cad.audit import views as audit_views
from cad.live.replay_views import replay_page
from cad.ops import views as ops
from cad.web import views

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", sign_in.token_view, name="api-token"),
    path("auth/logout/", sign_in.token_logout_view, name="api-logout"),
    path("", include("cad.api.urls")),
    path("", include("incidents.api_urls")),
    path("", include("incidents.public.api_urls")),
    path("", include("resources.api_urls")),
    path("", include("resources.recommend.urls")),
    path("", include("duties.api_urls")),
    path("", include("radio.api_urls")),
    path("", include("duties.officer.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", ops.healthz, name="healthz"),
    path("healthz/detail", ops.healthz_detail, name="healthz-detail"),
    path("metrics", ops.metrics, name="metrics"),
    path("audit/", audit_views.audit_search_page, name="audit"),
    path("replay/", replay_page, name="replay"),
    path("accounts/login/", sign_in.LoginView.as_view(), name="login"),
    path("accounts/2fa/", sign_in.second_factor_verify, name="second_factor"),
    path("accounts/2fa/enrol/", sign_in.second_factor_enrol, name="second_factor_enrol"),
    path("accounts/idle/", sign_in.idle_status, name="idle_status"),
    path("accounts/preferences/", sign_in.preferences_page, name="preferences"),
    # One sign-in page for everyone, so the admin gets the lockout and the second factor too.
    path(
        "admin/login/",
        RedirectView.as_view(
            pattern_name="login", query_string=True, http_method_names=["get", "head"]
        ),
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Reset links mailed by the admin's "send a reset" action (the names Django's mail uses).
    path(
        "accounts/reset/<uidb64>/<token>/",
        sign_in.PasswordSetView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        sign_in.PasswordSetDoneView.as_view(),
        name="password_reset_complete",
    ),
    # The admin's own password change, audited (cad/admin.py); before the admin's URLs.
    path("admin/password_change/", admin_own_password_change),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file, so the page needs no inline
    # script under the Content-Security-Policy (cad/web/csp.py).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("incidents.urls")),
    path("", include("incidents.public.urls")),
    path("", include("resources.urls")),
    path("", include("duties.urls")),
    path("m/", include("duties.officer.urls")),
]
