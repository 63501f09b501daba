from django.urls import path

from duties.officer import api

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("me/job/", api.MeJobApi.as_view(), name="api-me-job"),
    path("me/jobs/", api.MeShiftJobsApi.as_view(), name="api-me-jobs"),
    path("me/status/", api.MeStatusApi.as_view(), name="api-me-status"),
    path("me/emergency/", api.MeEmergencyApi.as_view(), name="api-me-emergency"),
    path("me/request-to-speak/", api.MeRequestToSpeakApi.as_view(), name="api-me-speak"),
    path(
        "me/incidents/<int:pk>/acknowledge/",
        api.MeAcknowledgeApi.as_view(),
        name="api-me-acknowledge",
    ),
    path("me/incidents/<int:pk>/callback/", api.MeCallbackApi.as_view(), name="api-me-callback"),
]
