from django.urls import path

from duties import views

app_name = "duties"
urlpatterns = [
    path("roster/", views.roster, name="roster"),
    path("roster/print/", views.roster_print, name="roster_print"),
    path("roster/book-on/", views.book_on, name="book_on"),
    path("my-shifts/", views.my_shifts, name="my_shifts"),
]
