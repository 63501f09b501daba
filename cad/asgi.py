"""ASGI entry point: HTTP through Django, WebSockets through Channels (served by daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from cad.live.routing import websocket_urlpatterns  # noqa: E402
from cad.live.send_buffer import expose_unsent_bytes  # noqa: E402
from cad.live.shared_frames import expose_frame_writer  # noqa: E402
from cad.live.socket_middleware import socket_auth_stack  # noqa: E402
from cad.live.websocket_frames import defer_frame_log_arguments  # noqa: E402
from cad.startup_heap import freeze_startup_heap  # noqa: E402

# autobahn builds a debug line's arguments for every frame sent, logged or not (decision 0033).
defer_frame_log_arguments()
# A desk that stops reading is cut off before daphne's memory holds too much for it.
expose_unsent_bytes()
# An event is framed once for every desk and written at once where nothing waits (decision 0039).
expose_frame_writer()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            # types-channels wants its own URLPattern subclass, which Django's path() never
            # returns (Channels' documented way to route consumers).
            socket_auth_stack(URLRouter(websocket_urlpatterns))  # type: ignore[arg-type]
        ),
    }
)
# Last: everything built so far lives as long as the process (cad/startup_heap.py).
freeze_startup_heap()
