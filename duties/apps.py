from django.apps import AppConfig


class DutiesConfig(AppConfig):
    name = "duties"
    verbose_name = "Duties: officers, teams, shifts, crewing"

    def ready(self) -> None:
        # The officers' phones (duties/officer/): cad routes their socket and publishes to their
        # groups, and `cad_user --collar` links accounts to the roster, without importing duties.
        from django.urls import path

        from cad.accounts.officer_links import register_officer_linker
        from cad.live.events import register_route
        from cad.live.routing import register_socket
        from duties.officer.consumer import OfficerConsumer
        from duties.officer.live import officer_groups
        from duties.selectors import operation_officers
        from duties.services import officer_user_link
        from incidents.operations.selectors import register_operation_detail_part

        # A planned operation (incidents, below) lists the officers drawn for it from here.
        register_operation_detail_part("officers", operation_officers)
        register_officer_linker(officer_user_link)
        register_route(officer_groups)
        register_socket(path("ws/officer/", OfficerConsumer.as_asgi()))  # type: ignore[arg-type]
