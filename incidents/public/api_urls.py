from django.urls import path

import cad.api.converters  # noqa: F401  (registers the <text:> and <textpath:> converters)
from incidents.public import api

urlpatterns = [
    path(
        "public/report-categories/",
        api.ReportCategoryListApi.as_view(),
        name="api-public-report-categories",
    ),
    path("public/reports/", api.PublicReportCreateApi.as_view(), name="api-public-reports"),
    # The reference has a space and a slash (`WEB 0017/30Nov26`, URL-encoded) or dashes.
    path(
        "public/reports/<textpath:reference>/",
        api.PublicReportStatusApi.as_view(),
        name="api-public-report-status",
    ),
    path("public/notify/status/", api.NotifyStatusCallbackApi.as_view(), name="api-notify-status"),
    path(
        "public/notify/inbound/", api.NotifyInboundCallbackApi.as_view(), name="api-notify-inbound"
    ),
    path("online-reports/", api.OnlineReportListApi.as_view(), name="api-online-reports"),
    path("online-reports/<int:pk>/", api.OnlineReportDetailApi.as_view(), name="api-online-report"),
    path(
        "online-reports/<int:pk>/triage/",
        api.OnlineReportTriageApi.as_view(),
        name="api-online-report-triage",
    ),
    path("investigations/", api.InvestigationListApi.as_view(), name="api-investigations"),
    path(
        "investigations/<int:pk>/", api.InvestigationUpdateApi.as_view(), name="api-investigation"
    ),
    path(
        "incidents/<int:pk>/messages/",
        api.IncidentMessagesApi.as_view(),
        name="api-incident-messages",
    ),
]
