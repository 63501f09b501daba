from django.urls import path

from incidents.operations import api

# `operations/<id>/units/` (ring-fencing) lives in resources.
urlpatterns = [
    path("operations/", api.OperationListCreateApi.as_view(), name="api-operations"),
    path("operations/<int:pk>/", api.OperationDetailApi.as_view(), name="api-operation"),
    path("operations/<int:pk>/log/", api.OperationLogApi.as_view(), name="api-operation-log"),
    path(
        "operations/<int:pk>/events/", api.OperationEventsApi.as_view(), name="api-operation-events"
    ),
    path(
        "incidents/<int:pk>/major-incident/",
        api.MajorIncidentApi.as_view(),
        name="api-major-incident",
    ),
    path(
        "incidents/<int:pk>/major-incident/stand-down/",
        api.MajorIncidentStandDownApi.as_view(),
        name="api-major-incident-stand-down",
    ),
    path(
        "incidents/<int:pk>/major-incident/mobilisation/",
        api.MobilisationApi.as_view(),
        name="api-major-incident-mobilisation",
    ),
]
