"""After-commit reactions (registered in ResourcesConfig.ready): a shared incident that changed
is sent again to every partner it is shared with."""

from typing import Any

from resources.partners import services


def resend_changed_incident(data: dict[str, Any]) -> None:
    """`incident.updated` / `incident.closed`: queue a fresh document for its partners."""
    services.partner_deliveries_queue(incident_id=data["id"])
