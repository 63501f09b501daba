"""Pages: the call-taker screen and the incident page. Both write only through the API."""

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from cad.audit.trail import source_of
from incidents import permissions as perms
from incidents import selectors, services
from incidents.crime import selectors as crime_selectors
from incidents.models import Call, Grade, Incident
from incidents.public import texts


def _leaflet_available() -> bool:
    # The map is a progressive enhancement: without the vendored Leaflet the position fields
    # stay editable by hand and nothing else changes.
    return bool(finders.find("vendor/leaflet/leaflet.js"))


@require_GET
def call_taker(request):
    """The call handler's screen: keyboard first, a draft that survives a reload."""
    if not perms.can_create(request.user):
        raise PermissionDenied
    context = {
        "types": list(selectors.incident_types_active().values("code", "name", "default_grade")),
        "qualifiers": list(selectors.qualifiers_active().values("code", "name")),
        "grades": [{"code": g.value, "label": g.label} for g in Grade],
        "targets": selectors.grade_targets(),
        "channels": Call.Channel.choices,
        "thrive_fields": ["threat", "harm", "risk", "investigation", "vulnerability", "engagement"],
        "leaflet": _leaflet_available(),
        "map_tile_url": settings.MAP_TILE_URL,
        "map_tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "force_area": settings.FORCE_AREA_BOUNDS,
    }
    return render(request, "incidents/call_taker.html", context)


@require_GET
def incident_detail(request, pk: int):
    """All of an incident, with the actions this user's role and BCU allow.

    Caller names and numbers are not rendered here; the page fetches them on request from the
    audited API, so the trail records who actually looked.
    """
    if not perms.can_read(request.user):
        raise PermissionDenied
    incident = get_object_or_404(Incident.objects.select_related("bcu"), pk=pk)
    detail = selectors.incident_detail(incident=incident, user=request.user)
    user = request.user
    context = {
        "incident": detail,
        "can_log": perms.can_add_call_or_log(user, incident),
        "can_manage": perms.can_manage(user, incident),
        "can_reopen": perms.can_reopen(user, incident),
        "can_read_personal": perms.can_read_personal(user),
        "can_expire_warnings": perms.can_expire_warnings(user),
        "grades": [{"code": g.value, "label": g.label} for g in Grade],
        "closing_codes": list(selectors.closing_codes_active().values("code", "name")),
        "qualifiers": list(selectors.qualifiers_active().values("code", "name")),
        "selected_qualifiers": {q["code"] for q in detail["qualifiers"]},
        "warnings": selectors.warnings_near(lat=incident.lat, lon=incident.lon),
        "history": selectors.location_history(
            lat=incident.lat, lon=incident.lon, exclude_id=incident.pk
        ),
        "channels": Call.Channel.choices,
        "closed": detail["status"] == "closed",
        # Issue 18: the crime report's state (no personal data; the draft itself is fetched
        # from the audited API when the handler opens it) and the classifications to pick.
        "crime_report": crime_selectors.crime_report_summary(incident),
        "classifications": crime_selectors.classifications_active(),
        "caller_messages": texts.incident_messages(incident=incident),
    }
    services.personal_data_combination_record(
        by=user, source=source_of(request), what="incident page",
        findings={"location_history": context["history"]}, incident=incident,
    )  # fmt: skip
    return render(request, "incidents/incident_detail.html", context)
