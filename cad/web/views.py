"""Pages that belong to no single desk: home (role routing) and health."""

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cad.accounts.roles import ROLE_HOME, ROLES, user_roles
from cad.web.health import health


@require_GET
def home(request):
    """Send each role to its screen. Users with several roles choose; officers see their shifts."""
    roles = [role for role in ROLES if role in user_roles(request.user)]
    if len(roles) == 1:
        return redirect(reverse(ROLE_HOME[roles[0]]))
    if not roles and hasattr(request.user, "officer"):
        return redirect(reverse("duties:my_shifts"))
    screens = [(role, reverse(ROLE_HOME[role])) for role in roles]
    return render(request, "home.html", {"screens": screens})


@login_not_required
@require_GET
@never_cache
def healthz(request):
    results = health()
    ok = all(value == "ok" for value in results.values())
    body: dict[str, Any] = {"status": "ok" if ok else "down", "checks": results}
    if not ok:
        body["down"] = [name for name, value in results.items() if value != "ok"]
    return JsonResponse(body, status=200 if ok else 503)
