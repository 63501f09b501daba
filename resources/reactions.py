"""What resources does after changes in the incidents app commit (registered in ResourcesConfig).

Incidents sits below resources and never imports it: it emits its events, and these reactions
queue the recommendation jobs. A broker that is down loses the job, never the change: the
recommendations endpoint computes on demand when no fresh result is stored.
"""

from typing import Any

from cad.enqueue import enqueue
from resources.tasks import recommend_for_incident


def recommend_for_new_incident(data: dict[str, Any]) -> None:
    """`incident.created`: recommend units for it."""
    enqueue(recommend_for_incident, data["id"], "incident_created")


def recommend_for_regraded_incident(data: dict[str, Any]) -> None:
    """`incident.regraded`: the grade decides speed and who suits it, so recommend again."""
    enqueue(recommend_for_incident, data["incident"], "regraded")


def recommend_for_reopened_incident(data: dict[str, Any]) -> None:
    """`incident.reopened`: back in the queue, unresourced."""
    enqueue(recommend_for_incident, data["incident"], "reopened")
