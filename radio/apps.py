from django.apps import AppConfig


class RadioConfig(AppConfig):
    name = "radio"
    verbose_name = "Radio gateway"

    def ready(self) -> None:
        # `cad` and `resources` sit below this app and never import it: the audit search
        # learns of despatch messages, despatch tells radio of new assignments, and health
        # and metrics learn of the radio's checks and figures, this way.
        from cad.audit.search import register_incident_rows
        from cad.live.events import react
        from cad.ops import health, metrics
        from radio import health as radio_health
        from radio.metrics import radio_figures
        from radio.reactions import despatch_message_on_assignment
        from radio.selectors import radio_message_audit_rows
        from resources.events import ASSIGNMENT_CREATED

        register_incident_rows(radio_message_audit_rows)
        react(ASSIGNMENT_CREATED, despatch_message_on_assignment)
        health.register("radio_bridge", radio_health.check_bridge)
        health.register("radio_backlog", radio_health.check_backlog)
        metrics.register(radio_figures)
