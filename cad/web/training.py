"""The training banner (issue 20, decision 0016): every page of a training instance says so."""

from django.conf import settings


def training(request) -> dict[str, bool]:
    """`training` in every template: base.html and the admin's header show the banner."""
    return {"training": settings.TRAINING}
