from django.apps import AppConfig


class CadConfig(AppConfig):
    name = "cad"
    verbose_name = "Control room: geography, audit, live events"
