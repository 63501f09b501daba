from django.apps import AppConfig


class RadioConfig(AppConfig):
    name = "radio"
    verbose_name = "Radio gateway"

    def ready(self) -> None:
        # `cad` and `resources` sit below this app and never import it: the audit search
        # learns of despatch messages, despatch has radio write the despatch message in each
        # assign, and health and metrics learn of the radio's checks and figures, this way.
        from cad.audit.search import register_incident_rows
        from cad.ops import health, metrics
        from radio import health as radio_health
        from radio.metrics import radio_figures
        from radio.selectors import radio_message_audit_rows
        from radio.services import despatch_message_with_assignment
        from resources.despatch import assignment_create_hook_register

        register_incident_rows(radio_message_audit_rows)
        assignment_create_hook_register(despatch_message_with_assignment)
        health.register("radio_bridge", radio_health.check_bridge)
        health.register("radio_backlog", radio_health.check_backlog)
        metrics.register(radio_figures)
