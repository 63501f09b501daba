from django.urls import path

from incidents import views

app_name = "incidents"
urlpatterns = [
    path("calls/", views.call_taker, name="call_taker"),
    path("incidents/<int:pk>/", views.incident_detail, name="detail"),
]
