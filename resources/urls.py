from django.urls import path

from resources import views

app_name = "resources"
urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/snapshot/", views.board_snapshot_json, name="board_snapshot"),
    path("board/boundaries/", views.boundaries, name="board_boundaries"),
]
