"""The officer's phone app at /m/: one page, its service worker and its manifest.

The page is a shell: everything on it comes from `/api/v1/me/…` and `/ws/officer/`
(static/js/officer/), so the service worker can cache it and the phone still opens it without
signal. The worker is served from /m/sw.js, not /static/, so its scope is /m/ (a worker may
control only pages under its own path).
"""

import json

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET

from cad.accounts.roles import OFFICER, has_role


@require_GET
def home(request):
    """The app shell. Officers only: a control-room account is sent nowhere near it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not has_role(request.user, OFFICER):
        raise PermissionDenied("This is the officers' app.")
    config = {
        "me_url": reverse("api-me"),
        "job_url": reverse("api-me-job"),
        "jobs_url": reverse("api-me-jobs"),
        "status_url": reverse("api-me-status"),
        "emergency_url": reverse("api-me-emergency"),
        "speak_url": reverse("api-me-speak"),
        "incident_url": "/api/v1/me/incidents/",
        "socket_path": "/ws/officer/",
        "login_url": reverse("login"),
        "sw_url": reverse("officer:sw"),
        "tile_url": settings.MAP_TILE_URL,
        "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    return render(request, "officer/app.html", {"config": config})


@login_not_required
@require_GET
def service_worker(request):
    """static/js/officer/sw.js at /m/sw.js, uncached by the browser's HTTP cache so a new
    version is picked up at the next visit. Public: it holds no data, and a signed-out phone
    must still be able to update it."""
    path = finders.find("js/officer/sw.js")
    if not path:
        raise Http404("no service worker")
    response = FileResponse(open(path, "rb"), content_type="text/javascript")  # noqa: SIM115
    response["Service-Worker-Allowed"] = "/m/"
    response["Cache-Control"] = "no-cache"
    return response


@login_not_required
@require_GET
def manifest(request):
    """The web app manifest (installable PWA): start at /m/, standalone, portrait."""
    icon = static("img/officer-icon.svg")
    body = {
        "name": "Beacon officer",
        "short_name": "Beacon",
        "start_url": reverse("officer:home"),
        "scope": reverse("officer:home"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#000000",
        "theme_color": "#000000",
        "icons": [{"src": icon, "sizes": "any", "type": "image/svg+xml"}],
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")
