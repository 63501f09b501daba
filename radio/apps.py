from django.apps import AppConfig


class RadioConfig(AppConfig):
    name = "radio"
    verbose_name = "Radio gateway"

    def ready(self) -> None:
        # `cad` sits below this app: the audit search learns of despatch messages this way,
        # and health and metrics of the radio's checks and figures.
        from cad.audit.search import register_incident_rows
        from cad.ops import health, metrics
        from radio import health as radio_health
        from radio.metrics import radio_figures
        from radio.selectors import radio_message_audit_rows

        register_incident_rows(radio_message_audit_rows)
        health.register("radio_bridge", radio_health.check_bridge)
        health.register("radio_backlog", radio_health.check_backlog)
        metrics.register(radio_figures)
