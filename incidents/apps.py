from functools import partial

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents: calls, grading, log"

    def ready(self) -> None:
        # `cad` sits below this app: it learns what it needs of incidents by registration.
        from cad.audit.search import register_incident_lookup
        from cad.enqueue import enqueue
        from cad.live.events import react
        from cad.live.replay import register_replay_section
        from cad.live.snapshot import register_snapshot_section
        from cad.ops import metrics
        from incidents.crime.services import crime_report_draft_on_close
        from incidents.events import INCIDENT_CLOSED
        from incidents.metrics import incident_figures
        from incidents.operations.selectors import major_incidents_active
        from incidents.public.texts import sender_register
        from incidents.replay import QUEUE
        from incidents.selectors import incident_for_audit, incidents_for_board
        from incidents.tasks import send_caller_message, send_report_message

        register_snapshot_section("incidents", incidents_for_board)
        # The declaration banner on every desk's board (incidents/operations/).
        register_snapshot_section("major_incidents", major_incidents_active)
        register_replay_section("incidents", QUEUE)
        register_incident_lookup(incident_for_audit)
        metrics.register(incident_figures)
        # A crime outcome drafts the crime report once the closing has committed.
        react(INCIDENT_CLOSED, crime_report_draft_on_close)
        # Texts are sent by a task; the texts module cannot import the task module (it is
        # imported by it), so it is told here how to queue one.
        sender_register(
            partial(enqueue, send_caller_message),
            report_send=partial(enqueue, send_report_message),
        )
