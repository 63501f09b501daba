from django.apps import AppConfig


class DutiesConfig(AppConfig):
    name = "duties"
    verbose_name = "Duties: officers, teams, shifts, crewing"

    def ready(self) -> None:
        # A planned operation (incidents, below) lists the officers drawn for it from here.
        from duties.selectors import operation_officers
        from incidents.operations.selectors import register_operation_detail_part

        register_operation_detail_part("officers", operation_officers)
