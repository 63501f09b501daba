from django.urls import path

from incidents.public import views

app_name = "public"
urlpatterns = [
    path("report/", views.report_start, name="report_start"),
    path("report/emergency/", views.report_emergency, name="report_emergency"),
    path("report/status/<str:slug>/", views.report_status, name="report_status"),
    path("report/<slug:category>/", views.report_form, name="report_form"),
    path("triage/", views.triage, name="triage"),
    path("triage/<int:pk>/", views.triage_report, name="triage_report"),
]
