from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from cad import views

api_v1 = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("cad.api_urls")),
    path("", include("incidents.api_urls")),
    path("", include("resources.api_urls")),
    path("", include("resources.recommend.urls")),
    path("", include("duties.api_urls")),
    path("", include("radio.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("incidents.urls")),
    path("", include("resources.urls")),
    path("", include("duties.urls")),
]
