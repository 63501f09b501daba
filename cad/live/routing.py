from django.urls import path

from cad.live.consumers import BoardConsumer

# Channels routes ASGI applications with Django's path(); django-stubs types its second
# argument as a view, so the consumer's ASGI app does not match.
websocket_urlpatterns = [path("ws/board/", BoardConsumer.as_asgi())]  # type: ignore[arg-type]


def register_socket(pattern) -> None:
    """Route another socket (an app above cad: the officers' /ws/officer/), from its
    AppConfig.ready, which runs before cad.asgi builds its router from this list."""
    if all(str(p.pattern) != str(pattern.pattern) for p in websocket_urlpatterns):
        websocket_urlpatterns.append(pattern)
