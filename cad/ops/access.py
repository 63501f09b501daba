"""Who may read the operators' endpoints (`/healthz/detail`, `/metrics`).

Two ways in:

- `Authorization: Bearer <MONITORING_TOKEN>`: for Prometheus and other monitoring, which
  should not hold a person's account (and could not pass the second factor). The token comes
  from the environment; with none set, this way is closed.
- a signed-in supervisor or admin (past the second factor), from a browser.

Other roles are refused, the radio gateway's included: it needs Beacon's REST and socket
interfaces, not Beacon's internals; a gateway operator's monitoring gets the token instead.
"""

import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from cad.accounts.roles import ADMIN, SUPERVISOR, has_role


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def monitoring_refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the caller may read monitoring data, else the 401/403 to send."""
    token = _bearer(request)
    if token is not None:
        expected = settings.MONITORING_TOKEN
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return _unauthorised("Invalid monitoring token.")
    if not request.user.is_authenticated:
        return _unauthorised("Authentication credentials were not provided.")
    if not has_role(request.user, SUPERVISOR, ADMIN):
        return JsonResponse({"detail": "Supervisors and admins only."}, status=403)
    return None


def _unauthorised(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="beacon-monitoring"'
    return response
