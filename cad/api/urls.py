from django.urls import path

from cad.accounts.api import PreferencesApi
from cad.api.reference import BCUListApi
from cad.audit.api import AuditCsvApi, AuditSearchApi
from cad.live.replay_api import BoardAtApi, BoardTimelineApi

urlpatterns = [
    path("bcus/", BCUListApi.as_view(), name="api-bcus"),
    path("audit/", AuditSearchApi.as_view(), name="api-audit"),
    path("audit/csv/", AuditCsvApi.as_view(), name="api-audit-csv"),
    path("me/preferences/", PreferencesApi.as_view(), name="api-me-preferences"),
]

# The board at any moment (issue 20, docs/replay.md).
urlpatterns += [
    path("board/at/", BoardAtApi.as_view(), name="api-board-at"),
    path("board/timeline/", BoardTimelineApi.as_view(), name="api-board-timeline"),
]
