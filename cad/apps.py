from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CadConfig(AppConfig):
    name = "cad"
    verbose_name = "Control room: geography, audit, live events"

    def ready(self):
        from cad.accounts import identity_changes  # noqa: F401  (connects its receivers)
        from cad.accounts.roles import ensure_roles
        from cad.live import session_sockets  # noqa: F401  (connects the session-end receivers)

        # Connected for this app only, so it runs once per migrate, after all apps' tables exist.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="cad.ensure_roles")
        from cad.ops import heartbeats  # noqa: F401  (connects beat's heartbeat receivers)
