"""WSGI entry point, for serving the REST API from a WSGI server beside daphne if wanted."""

import os

from django.core.wsgi import get_wsgi_application

from cad.startup_heap import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cad.settings")
application = get_wsgi_application()
freeze_startup_heap()  # each gunicorn worker, once it has imported the app
