"""Pages: /report/ for the public (no sign-in, no JavaScript needed) and /triage/ for staff.

/report/ is plain forms, posted and redirected (POST/redirect/GET): first the safety question
and what it is about, then that category's questions, then the reference and status link. An
error re-renders the form with a summary at the top linking to each field (GOV.UK pattern).
"""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.exceptions import NotFound

from cad.api.throttles import PublicAddressThrottle
from cad.audit.trail import source_of
from cad.errors import Conflict
from incidents import selectors as incident_selectors
from incidents.models import GazetteerEntry, Grade
from incidents.public import permissions as perms
from incidents.public import selectors, services
from incidents.public.api import reference_slug, report_for_status
from incidents.public.categories import CATEGORIES, category_get
from incidents.public.models import OnlineReport, UpdatesBy
from incidents.public.services import STATUS_WORDS

LONDON = ZoneInfo("Europe/London")
UPDATE_CHOICES = [(UpdatesBy.NONE, "No updates"), (UpdatesBy.SMS, "Text message"),
                  (UpdatesBy.EMAIL, "Email")]  # fmt: skip


def _throttled(request) -> HttpResponse | None:
    throttle = PublicAddressThrottle()
    if throttle.allow_request(request, None):
        return None
    wait = int(throttle.wait())
    response = render(request, "public/too_many.html", {"wait_minutes": max(1, wait // 60)},
                      status=429)  # fmt: skip
    response["Retry-After"] = str(wait)
    return response


@login_not_required
@require_http_methods(["GET", "POST"])
def report_start(request):
    """The safety question first, then what the report is about."""
    errors: dict[str, str] = {}
    values = {
        "danger": request.POST.get("danger", ""),
        "category": request.POST.get("category", ""),
    }
    if request.method == "POST":
        if values["danger"] not in ("yes", "no"):
            errors["danger"] = "Say whether anyone is in danger now."
        elif values["danger"] == "yes":
            return redirect("public:report_emergency")
        if category_get(values["category"]) is None:
            errors["category"] = "Choose what you want to report."
        if not errors:
            return redirect("public:report_form", category=values["category"])
    return render(request, "public/report_start.html",
                  {"categories": CATEGORIES, "errors": errors, "values": values},
                  status=400 if errors else 200)  # fmt: skip


@login_not_required
@require_GET
def report_emergency(request):
    return render(request, "public/report_emergency.html")


# Where a service's error belongs on the form (its field's id is "f-<name>").
_FIELD_OF = {"description": "description", "location": "address", "location.address": "address",
             "occurred_at": "occurred_date", "reporter.name": "name", "reporter.email": "email",
             "reporter.phone": "phone", "updates_by": "updates_by", "answers": "description",
             "category": "description"}  # fmt: skip


def _form_errors(message_dict: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, problems in message_dict.items():
        name = (
            "answer_" + key.split(".", 1)[1]
            if key.startswith("answers.")
            else _FIELD_OF.get(key, "description")
        )
        out.setdefault(name, " ".join(problems))
    return out


def _occurred_at(errors: dict[str, str], day: str, at: str) -> datetime | None:
    if not day:
        return None
    try:
        moment = time.fromisoformat(at) if at else time(0, 0)
        return datetime.combine(datetime.fromisoformat(day).date(), moment, tzinfo=LONDON)
    except ValueError:
        errors["occurred_date"] = "Enter the date as day, month and year, like 27 11 2026."
        return None


def _place(errors, post, candidates_out: list) -> tuple[float | None, float | None, str]:
    """The position: a chosen candidate, the map's point, or the address looked up."""
    choice = post.get("place", "")
    if choice.isdigit():
        entry = GazetteerEntry.objects.filter(pk=int(choice)).first()
        if entry is not None:
            return (
                entry.lat,
                entry.lon,
                entry.address + (f", {entry.postcode}" if entry.postcode else ""),
            )
    try:
        lat, lon = float(post.get("lat", "")), float(post.get("lon", ""))
        return lat, lon, ""
    except ValueError:
        pass
    address = post.get("address", "").strip()
    if not address:
        errors["address"] = "Enter the address or street where it happened, or pick it on the map."
        return None, None, ""
    if len(address) > 300:
        return None, None, ""  # the service names the length
    found, candidates = incident_selectors.gazetteer_resolve(address)
    if found is not None:
        return (
            found["lat"],
            found["lon"],
            found["address"] + (f", {found['postcode']}" if found["postcode"] else ""),
        )
    if candidates:
        candidates_out.extend(candidates)
        errors["address"] = "That matches more than one place: choose one below."
    else:
        errors["address"] = (
            "We could not find that address. Check it, add the postcode, "
            "or pick the place on the map."
        )
    return None, None, ""


@login_not_required
@require_http_methods(["GET", "POST"])
def report_form(request, category: str):
    """The category's questions, the place, and who is reporting."""
    cat = category_get(category)
    if cat is None:
        raise Http404
    errors: dict[str, str] = {}
    candidates: list[dict[str, Any]] = []
    values: dict[str, str] = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    if request.method == "POST":
        if refused := _throttled(request):
            return refused
        if request.POST.get("website"):
            errors["description"] = "This report could not be accepted."
        occurred = _occurred_at(errors, request.POST.get("occurred_date", ""),
                                request.POST.get("occurred_time", ""))  # fmt: skip
        lat, lon, resolved = _place(errors, request.POST, candidates)
        data = services.ReportInput(
            category=cat.code, description=request.POST.get("description", ""),
            address=request.POST.get("address", ""), lat=lat, lon=lon, resolved_address=resolved,
            occurred_at=occurred, reporter_name=request.POST.get("name", ""),
            reporter_email=request.POST.get("email", ""),
            reporter_phone=request.POST.get("phone", ""),
            updates_by=request.POST.get("updates_by", "none"),
            answers={q.key: request.POST.get(f"answer_{q.key}", "") for q in cat.questions},
        )  # fmt: skip
        if not errors:
            try:
                report, token = services.online_report_create(data=data, source=source_of(request))
            except ValidationError as exc:
                errors.update(_form_errors(exc.message_dict))
            else:
                url = reverse("public:report_status", args=[reference_slug(report.reference)])
                return redirect(f"{url}?{urlencode({'token': token, 'new': '1'})}")
        else:
            # Show every problem at once: the service's checks too, on what it can check.
            errs, _clean = services.online_report_validate(data, at=timezone.now())
            for name, message in _form_errors(errs).items():
                if name != "address" or "address" not in errors:
                    errors.setdefault(name, message)
    questions = [
        {"name": f"answer_{q.key}", "label": q.label, "hint": q.hint, "required": q.required,
         "choices": q.choices, "value": values.get(f"answer_{q.key}", ""),
         "error": errors.get(f"answer_{q.key}", ""), "max_length": q.max_length}
        for q in cat.questions
    ]  # fmt: skip
    context = {"category": cat, "errors": errors, "values": values, "candidates": candidates,
               "questions": questions, "update_choices": UPDATE_CHOICES,
               "max_description": services.DESCRIPTION_MAX,
               "leaflet": bool(finders.find("vendor/leaflet/leaflet.js")),
               "map_tile_url": settings.MAP_TILE_URL,
               "map_tile_attribution": settings.MAP_TILE_ATTRIBUTION,
               "force_area_json": json.dumps(settings.FORCE_AREA_BOUNDS)}  # fmt: skip
    return render(request, "public/report_form.html", context, status=400 if errors else 200)


@login_not_required
@require_GET
def report_status(request, slug: str):
    """The reporter's status link: reference and status only."""
    try:
        report = report_for_status(slug, request.GET.get("token", ""))
    except NotFound:
        raise Http404 from None
    return render(request, "public/report_status.html", {
        "report": report, "status_words": STATUS_WORDS[report.status],
        "new": request.GET.get("new") == "1", "link": request.build_absolute_uri(),
    })  # fmt: skip


# --- triage (staff) -----------------------------------------------------------------------


@require_GET
def triage(request):
    """The triage queue, oldest first."""
    if not perms.can_triage(request.user):
        raise PermissionDenied
    return _triage_page(request, None)


@require_http_methods(["GET", "POST"])
def triage_report(request, pk: int):
    """The queue with one report open, and its decision form (POST: the decision)."""
    if not perms.can_triage(request.user):
        raise PermissionDenied
    report = get_object_or_404(OnlineReport.objects.select_related("bcu", "incident"), pk=pk)
    if not perms.can_triage(request.user, report):
        raise PermissionDenied
    if request.method == "POST":
        try:
            done = services.online_report_triage(
                report=report, by=request.user, decision=request.POST.get("decision", ""),
                reason=request.POST.get("reason", ""), grade=request.POST.get("grade") or None,
                type_code=request.POST.get("type") or None, agency=request.POST.get("agency", ""),
                source=source_of(request),
            )  # fmt: skip
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                messages.error(request, f"{field.title()}: {' '.join(problems)}")
            return redirect("public:triage_report", pk=report.pk)
        except Conflict as exc:
            messages.error(request, exc.detail)
            return redirect("public:triage")
        text = f"{done.reference}: {STATUS_WORDS[done.status]}."
        if done.incident is not None:
            text += f" Incident {done.incident.reference} created."
        messages.success(request, text)
        return redirect("public:triage")
    return _triage_page(request, report)


def _triage_page(request, report: OnlineReport | None):
    queue = list(selectors.triage_queue(user=request.user)[:200])
    now = timezone.now()
    detail = None
    if report is not None:
        detail = selectors.report_detail(report)
        services.personal_report_read_record(
            report=report, by=request.user, source=source_of(request), what="triage page"
        )
    category = category_get(report.category) if report else None
    return render(request, "public/triage.html", {
        "queue": [selectors.report_row(r, now=now) for r in queue],
        "queue_age": selectors.queue_age_minutes(user=request.user),
        "report": detail,
        "default_type": category.incident_type if category else "",
        "types": list(incident_selectors.incident_types_active().values("code", "name")),
        "grades": [{"code": g.value, "label": g.label} for g in Grade],
        "decisions": [("incident", "Make an incident"),
                      ("investigate", "Allocate to investigation (no attendance)"),
                      ("refer", "Refer to another agency"), ("close", "Close")],
    })  # fmt: skip
