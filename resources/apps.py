from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "resources"
    verbose_name = "Resources: units, status, position"

    def ready(self) -> None:
        # `cad` sits below this app: it learns what it needs of units by registration.
        from cad.audit.search import register_incident_rows
        from cad.live.snapshot import register_snapshot_section
        from resources.selectors import assignment_audit_rows, units_for_board

        register_snapshot_section("units", units_for_board)
        register_incident_rows(assignment_audit_rows)
