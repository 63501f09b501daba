from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_roles(sender, **kwargs):
    """Keep the role groups whole after every migrate (and every test-database flush).

    The data migration creates them on a new database; this puts back any that were removed
    and grants permissions for models added since, so groups never drift from cad/accounts/roles.py.
    """
    from cad.accounts.roles import apply_role_permissions

    apply_role_permissions()


class CadConfig(AppConfig):
    name = "cad"
    verbose_name = "Control room: geography, audit, live events"

    def ready(self):
        # Connected for this app only, so it runs once per migrate, after all apps' tables exist.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="cad.ensure_roles")
        from cad.live import session_sockets  # noqa: F401  (connects the session-end receivers)
        from cad.ops import heartbeats  # noqa: F401  (connects beat's heartbeat receivers)
