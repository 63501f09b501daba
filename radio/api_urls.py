from django.urls import path

from radio import api

urlpatterns = [
    path("radio/inbound/", api.RadioInboundApi.as_view(), name="api-radio-inbound"),
    path("radio/delivery/", api.RadioDeliveryApi.as_view(), name="api-radio-delivery"),
]
