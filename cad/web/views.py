"""Pages that belong to no single desk: home (role routing). Health is cad/ops/views.py."""

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cad.accounts.roles import ROLE_HOME, ROLES, user_roles


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
