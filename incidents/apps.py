from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents: calls, grading, log"

    def ready(self) -> None:
        # `cad` sits below this app: it learns what it needs of incidents by registration.
        from cad.audit.search import register_incident_lookup
        from cad.live.replay import register_replay_section
        from cad.live.snapshot import register_snapshot_section
        from cad.ops import metrics
        from incidents.metrics import incident_figures
        from incidents.replay import QUEUE
        from incidents.selectors import incident_for_audit, incidents_for_board

        register_snapshot_section("incidents", incidents_for_board)
        register_replay_section("incidents", QUEUE)
        register_incident_lookup(incident_for_audit)
        metrics.register(incident_figures)
