"""The operators' endpoints: `/healthz`, `/healthz/detail` and `/metrics`."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from cad.ops import health
from cad.ops import metrics as ops_metrics
from cad.ops.access import monitoring_refusal


@login_not_required
@require_GET
@never_cache
def healthz(request):
    """Up or down, for anyone (load balancers, container probes); reasons are in the detail."""
    ok = health.healthy()
    return JsonResponse({"status": "ok" if ok else "down"}, status=200 if ok else 503)


@login_not_required  # answers 401 itself, with a Bearer challenge, instead of a login redirect
@require_GET
@never_cache
def healthz_detail(request):
    if refusal := monitoring_refusal(request):
        return refusal
    body = health.health_detail()
    return JsonResponse(body, status=200 if body["status"] == health.OK else 503)


@login_not_required  # answers 401 itself, with a Bearer challenge, instead of a login redirect
@require_GET
@never_cache
def metrics(request):
    """The control-room figures in Prometheus' text format (cad/ops/metrics.py)."""
    if refusal := monitoring_refusal(request):
        return refusal
    return HttpResponse(ops_metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
