from django.urls import path

from cad.live.consumers import BoardConsumer

# Channels routes ASGI applications with Django's path(); django-stubs types its second
# argument as a view, so the consumer's ASGI app does not match.
websocket_urlpatterns = [path("ws/board/", BoardConsumer.as_asgi())]  # type: ignore[arg-type]
