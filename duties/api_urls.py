from django.urls import include, path

from duties import api

urlpatterns = [
    path("officers/", api.OfficerListApi.as_view(), name="api-officers"),
    path("shifts/", api.ShiftListApi.as_view(), name="api-shifts"),
    path("shifts/<int:shift_id>/", api.ShiftDetailApi.as_view(), name="api-shift"),
    path(
        "shifts/<int:shift_id>/officers/",
        api.ShiftOfficerAddApi.as_view(),
        name="api-shift-officer-add",
    ),
    path(
        "shifts/<int:shift_id>/officers/<int:officer_id>/",
        api.ShiftOfficerRemoveApi.as_view(),
        name="api-shift-officer-remove",
    ),
    path(
        "shifts/<int:shift_id>/operation/",
        api.ShiftOperationApi.as_view(),
        name="api-shift-operation",
    ),
    path("roster/cells/", api.RosterCellApi.as_view(), name="api-roster-cell"),
    path("roster/patterns/", api.RosterPatternApi.as_view(), name="api-roster-pattern"),
    path("roster/summary/", api.RosterSummaryApi.as_view(), name="api-roster-summary"),
    path("roster/csv/", api.RosterCsvApi.as_view(), name="api-roster-csv"),
    path("crewing/book-on/", api.CrewBookOnApi.as_view(), name="api-book-on"),
    path("crewing/book-off/", api.CrewBookOffApi.as_view(), name="api-book-off"),
    path("", include("duties.figures.api_urls")),
]
