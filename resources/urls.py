from django.urls import path

from cad.placeholder import placeholder

app_name = "resources"
urlpatterns = [
    path(
        "board/", placeholder("Despatch board", "the live despatch board (issue 4)"), name="board"
    ),
]
