from django.urls import path

from cad.placeholder import placeholder

app_name = "incidents"
urlpatterns = [
    path("calls/", placeholder("Call taking", "call handling (issue 3)"), name="call_taker"),
]
