from django.urls import path

from cad.api import BCUListApi

urlpatterns = [path("bcus/", BCUListApi.as_view(), name="api-bcus")]
