from django.urls import path

from incidents import views
from incidents.operations import views as operation_views

app_name = "incidents"
urlpatterns = [
    path("calls/", views.call_taker, name="call_taker"),
    path("incidents/<int:pk>/", views.incident_detail, name="detail"),
    path("operations/", operation_views.operation_list, name="operations"),
    path("operations/<int:pk>/", operation_views.operation_page, name="operation"),
    path(
        "operations/<int:pk>/briefing/",
        operation_views.operation_briefing,
        name="operation_briefing",
    ),
    path("fallback-sheet/", operation_views.fallback_sheet, name="fallback_sheet"),
]
