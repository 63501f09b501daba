from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class CadConfig(AppConfig):
    name = "cad"
    verbose_name = "Control room: geography, audit, live events"

    def ready(self):
        from cad.accounts import identity_changes  # noqa: F401  (connects its receivers)
        from cad.accounts.roles import ensure_roles
        from cad.live import session_sockets  # noqa: F401  (connects the session-end receivers)

        # Connected for this app only, so it runs once per migrate, after all apps' tables exist.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="cad.ensure_roles")
        from cad.geo.geometry import boundaries_forget
        from cad.models import Borough
        from cad.ops import heartbeats  # noqa: F401  (connects beat's heartbeat receivers)

        # A row created and changed in one transaction keeps its `xmin`: forget the kept
        # boundaries when this process saves one (cad/geo/geometry.py).
        post_save.connect(boundaries_forget, sender=Borough, dispatch_uid="cad.boundaries.saved")
        post_delete.connect(boundaries_forget, sender=Borough, dispatch_uid="cad.boundaries.gone")
