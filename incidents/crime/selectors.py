"""Reads for crime reports that carry no personal data (the page's summary, the pick list)."""

from typing import Any

from incidents.crime.models import CrimeClassification, CrimeReport
from incidents.models import Incident


def crime_report_summary(incident: Incident) -> dict[str, Any] | None:
    """State, crime number and classification only: the victim and suspect stay behind the
    audited API."""
    row = (
        CrimeReport.objects.filter(incident=incident)
        .values(
            "state", "crime_number", "last_error", "classification__code", "classification__name"
        )  # fmt: skip
        .first()
    )
    if row is None:
        return None
    return {
        "state": row["state"],
        "crime_number": row["crime_number"],
        "error": row["last_error"],
        "classification": row["classification__code"],
        "classification_name": row["classification__name"],
    }


def classifications_active() -> list[dict[str, str]]:
    rows = (
        CrimeClassification.objects.filter(active=True)
        .order_by("group", "name")
        .values_list("code", "name", "group")
    )
    return [{"code": code, "name": name, "group": group} for code, name, group in rows]
