from django.urls import path

from duties.officer import views

app_name = "officer"
urlpatterns = [
    path("", views.home, name="home"),
    path("sw.js", views.service_worker, name="sw"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
]
