from django.urls import path

from resources.recommend.api import CoverageApi, IncidentRecommendationsApi

urlpatterns = [
    path(
        "incidents/<int:pk>/recommendations/",
        IncidentRecommendationsApi.as_view(),
        name="api-incident-recommendations",
    ),
    path("coverage/", CoverageApi.as_view(), name="api-coverage"),
]
