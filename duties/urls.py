from django.urls import path

from cad.placeholder import placeholder

app_name = "duties"
urlpatterns = [
    path("roster/", placeholder("Roster", "duty management (issue 6)"), name="roster"),
    path("my-shifts/", placeholder("My shifts", "duty management (issue 6)"), name="my_shifts"),
]
