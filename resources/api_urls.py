from django.urls import path

import cad.api.converters  # noqa: F401  (registers the <text:> and <textpath:> converters)
from resources import api
from resources.partners import api as partners_api

urlpatterns = [
    path("units/", api.UnitListApi.as_view(), name="api-units"),
    path("units/<text:callsign>/", api.UnitDetailApi.as_view(), name="api-unit"),
    path("units/<text:callsign>/status/", api.UnitStatusApi.as_view(), name="api-unit-status"),
    path(
        "units/<text:callsign>/position/", api.UnitPositionApi.as_view(), name="api-unit-position"
    ),
    path(
        "units/<text:callsign>/emergency/",
        api.UnitEmergencyApi.as_view(),
        name="api-unit-emergency",
    ),
    path(
        "units/<text:callsign>/emergency/acknowledge/",
        api.UnitEmergencyAcknowledgeApi.as_view(),
        name="api-unit-emergency-acknowledge",
    ),
    path("incidents/<int:pk>/assign/", api.IncidentAssignApi.as_view(), name="api-incident-assign"),
    path(
        "incidents/<int:pk>/unassign/",
        api.IncidentUnassignApi.as_view(),
        name="api-incident-unassign",
    ),
    path("operations/<int:pk>/units/", api.OperationUnitsApi.as_view(), name="api-operation-units"),
    path(
        "operations/<int:pk>/units/<text:callsign>/",
        api.OperationUnitReleaseApi.as_view(),
        name="api-operation-unit",
    ),
    path("board/timers/", api.TimerFlagsApi.as_view(), name="api-board-timers"),
    path(
        "incidents/<int:pk>/eido/", partners_api.IncidentEidoApi.as_view(), name="api-incident-eido"
    ),
    path(
        "incidents/<int:pk>/partners/",
        partners_api.IncidentShareApi.as_view(),
        name="api-incident-partners",
    ),
    path("eido/inbound/", partners_api.EidoInboundApi.as_view(), name="api-eido-inbound"),
]
