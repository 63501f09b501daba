from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents: calls, grading, log"

    def ready(self) -> None:
        # `cad` sits below this app: it learns what it needs of incidents by registration.
        from cad.audit.search import register_incident_lookup
        from cad.live.snapshot import register_snapshot_section
        from cad.ops import metrics
        from incidents.metrics import incident_figures
        from incidents.public.texts import sender_register
        from incidents.selectors import incident_for_audit, incidents_for_board
        from incidents.tasks import send_caller_message

        register_snapshot_section("incidents", incidents_for_board)
        register_incident_lookup(incident_for_audit)
        metrics.register(incident_figures)
        # Texts are sent by a task; the texts module cannot import the task module (it is
        # imported by it), so it is told here how to queue one.
        sender_register(send_caller_message.delay)
