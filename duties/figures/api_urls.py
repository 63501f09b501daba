from django.urls import path

from duties.figures import api

urlpatterns = [
    path("stats/response-times/", api.ResponseTimesApi.as_view(), name="api-stats-response-times"),
]
