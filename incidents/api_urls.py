from django.urls import include, path

from incidents import api
from incidents.crime import api as crime_api

# `incidents/<id>/assign/`, `unassign/` and `recommendations/` live in resources (despatch).
urlpatterns = [
    path("incident-types/", api.IncidentTypeListApi.as_view(), name="api-incident-types"),
    path("closing-codes/", api.ClosingCodeListApi.as_view(), name="api-closing-codes"),
    path("qualifiers/", api.QualifierListApi.as_view(), name="api-qualifiers"),
    path("gazetteer/", api.GazetteerSearchApi.as_view(), name="api-gazetteer"),
    path("incidents/", api.IncidentListCreateApi.as_view(), name="api-incidents"),
    path("incidents/check/", api.IncidentCheckApi.as_view(), name="api-incident-check"),
    path("incidents/<int:pk>/", api.IncidentDetailApi.as_view(), name="api-incident"),
    path("incidents/<int:pk>/calls/", api.IncidentCallsApi.as_view(), name="api-incident-calls"),
    path("incidents/<int:pk>/log/", api.IncidentLogApi.as_view(), name="api-incident-log"),
    path("incidents/<int:pk>/grade/", api.IncidentGradeApi.as_view(), name="api-incident-grade"),
    path("incidents/<int:pk>/close/", api.IncidentCloseApi.as_view(), name="api-incident-close"),
    path("incidents/<int:pk>/reopen/", api.IncidentReopenApi.as_view(), name="api-incident-reopen"),
    path(
        "incidents/<int:pk>/qualifiers/",
        api.IncidentQualifiersApi.as_view(),
        name="api-incident-qualifiers",
    ),
    path("incidents/<int:pk>/thrive/", api.IncidentThriveApi.as_view(), name="api-incident-thrive"),
    path("incidents/<int:pk>/links/", api.IncidentLinkApi.as_view(), name="api-incident-links"),
    path("warning-markers/", api.WarningMarkerListCreateApi.as_view(), name="api-warning-markers"),
    path(
        "warning-markers/<int:pk>/expire/",
        api.WarningMarkerExpireApi.as_view(),
        name="api-warning-marker-expire",
    ),
    path(
        "incidents/<int:pk>/crime-report/",
        crime_api.CrimeReportApi.as_view(),
        name="api-incident-crime-report",
    ),
    path(
        "incidents/<int:pk>/crime-report/submit/",
        crime_api.CrimeReportSubmitApi.as_view(),
        name="api-incident-crime-report-submit",
    ),
    path("", include("incidents.operations.api_urls")),
]
