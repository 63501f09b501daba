from django.apps import AppConfig


class RadioConfig(AppConfig):
    name = "radio"
    verbose_name = "Radio gateway"

    def ready(self) -> None:
        # `cad` sits below this app: the audit search learns of despatch messages this way.
        from cad.audit.search import register_incident_rows
        from radio.selectors import radio_message_audit_rows

        register_incident_rows(radio_message_audit_rows)
