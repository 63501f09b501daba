from django.urls import path

from duties import views
from duties.figures import views as figures
from duties.simulation import views as simulation

app_name = "duties"
urlpatterns = [
    path("roster/", views.roster, name="roster"),
    path("roster/print/", views.roster_print, name="roster_print"),
    path("roster/book-on/", views.book_on, name="book_on"),
    path("my-shifts/", views.my_shifts, name="my_shifts"),
    path("stats/", figures.stats_page, name="stats"),
    path("stats/what-if/", simulation.what_if_page, name="what_if"),
    path("board/figures/", figures.board_figures_json, name="board_figures"),
]
