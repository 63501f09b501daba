"""Roles are Django groups with these exact names (api.md). Scope is a BCU, or all London."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import connection

CALL_HANDLER = "call_handler"
DESPATCHER = "despatcher"
SUPERVISOR = "supervisor"
ADMIN = "admin"
RADIO_GATEWAY = "radio_gateway"
# Another service's CAD sending us EIDO documents (resources/partners/; api.md "Other services").
PARTNER_AGENCY = "partner_agency"
# Front-line officers on their phones (duties/officer/): no model permission, no control-room
# page or API; only /m/, /api/v1/me/… and /ws/officer/, for the unit they are booked on to.
OFFICER = "officer"
ROLES = [CALL_HANDLER, DESPATCHER, SUPERVISOR, ADMIN, RADIO_GATEWAY, PARTNER_AGENCY, OFFICER]

# Model permissions per role, as (app_label, model, actions). The data migration and
# `cad_user` both apply this table, so it is the one place to read who may do what.
_REFERENCE = [
    ("cad", "bcu"), ("cad", "borough"), ("cad", "station"),
    ("incidents", "incidenttype"), ("incidents", "responseplanitem"),
    ("incidents", "closingcode"), ("incidents", "qualifier"),
    ("resources", "unittype"), ("resources", "skill"), ("resources", "unit"),
    ("duties", "team"), ("duties", "officer"), ("duties", "officerskill"),
    ("radio", "statuscodemapping"),
]  # fmt: skip

ROLE_PERMISSIONS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    CALL_HANDLER: [
        ("incidents", "incident", ("view", "add")),
        ("incidents", "call", ("view", "add")),
        ("incidents", "incidentlogentry", ("view", "add")),
        ("incidents", "warningmarker", ("view", "add")),
        ("incidents", "incidenttype", ("view",)),
        ("incidents", "qualifier", ("view",)),
        ("resources", "unit", ("view",)),
    ],
    DESPATCHER: [
        ("incidents", "incident", ("view", "add", "change")),
        ("incidents", "call", ("view", "add")),
        ("incidents", "incidentlogentry", ("view", "add")),
        ("incidents", "gradechange", ("view", "add")),
        ("incidents", "warningmarker", ("view", "add", "change")),
        ("incidents", "incidenttype", ("view",)),
        ("incidents", "closingcode", ("view",)),
        ("incidents", "qualifier", ("view",)),
        ("resources", "unit", ("view", "change")),
        ("resources", "assignment", ("view", "add", "change")),
        ("resources", "unitstatuschange", ("view", "add")),
        ("duties", "officer", ("view",)),
        ("duties", "shift", ("view",)),
        ("duties", "crewing", ("view",)),
        ("radio", "radiomessage", ("view", "add")),
    ],
    SUPERVISOR: [
        ("incidents", "incident", ("view", "add", "change")),
        ("incidents", "call", ("view", "add")),
        ("incidents", "incidentlogentry", ("view", "add")),
        ("incidents", "gradechange", ("view", "add")),
        ("incidents", "warningmarker", ("view", "add", "change")),
        ("incidents", "incidenttype", ("view",)),
        ("incidents", "closingcode", ("view",)),
        ("incidents", "qualifier", ("view",)),
        ("resources", "unit", ("view", "change")),
        ("resources", "assignment", ("view", "add", "change")),
        ("resources", "unitstatuschange", ("view", "add")),
        ("duties", "team", ("view",)),
        ("duties", "officer", ("view", "change")),
        ("duties", "officerskill", ("view",)),
        ("duties", "shift", ("view", "add", "change")),
        ("duties", "shiftassignment", ("view", "add", "change", "delete")),
        ("duties", "shiftskillrequirement", ("view", "add", "change", "delete")),
        ("duties", "crewing", ("view", "add", "change")),
        ("radio", "radiomessage", ("view",)),
        ("cad", "auditevent", ("view",)),
    ],
    ADMIN: [(app, model, ("view", "add", "change", "delete")) for app, model in _REFERENCE]
    + [
        ("auth", "user", ("view", "add", "change")),
        # API tokens: seen and ended (revoked) in the admin, never made or edited there.
        ("knox", "authtoken", ("view", "delete")),
        # Failed sign-ins: seen, and a lockout lifted early (delete = the admin action).
        ("cad", "loginfailure", ("view", "delete")),
        ("cad", "userscope", ("view", "add", "change", "delete")),
        ("cad", "auditevent", ("view",)),
        ("cad", "event", ("view",)),
        ("incidents", "warningmarker", ("view", "add", "change", "delete")),
        ("incidents", "incident", ("view",)),
        # The words of texts to the public (issue 15): edited, never added or removed.
        ("incidents", "messagetemplate", ("view", "change")),
        ("resources", "assignment", ("view",)),
        ("duties", "shift", ("view", "add", "change")),
        ("radio", "radiomessage", ("view",)),
        # Partner agencies and crime classifications are maintained here; what was sent and
        # drafted is written by services only.
        ("resources", "partneragency", ("view", "add", "change", "delete")),
        ("resources", "partnerdelivery", ("view",)),
        ("incidents", "crimeclassification", ("view", "add", "change", "delete")),
        ("incidents", "crimereport", ("view",)),
    ],
    RADIO_GATEWAY: [
        ("radio", "radiomessage", ("add",)),
        ("resources", "unit", ("view",)),
    ],
    # No model permission: its one endpoint (POST /api/v1/eido/inbound/) checks the role.
    PARTNER_AGENCY: [],
    OFFICER: [],
}

# Where each role lands after login (the home page sends them there).
ROLE_HOME = {
    CALL_HANDLER: "incidents:call_taker",
    DESPATCHER: "resources:board",
    SUPERVISOR: "duties:roster",
    ADMIN: "admin:index",
    RADIO_GATEWAY: "api-docs",
    PARTNER_AGENCY: "api-docs",
    OFFICER: "officer:home",
}


def user_roles(user: User | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_cad_roles", None)
    if cached is None:
        # Every request asks, so one fixed statement: the ORM's query building cost four times
        # what running it did (stop 22).
        with connection.cursor() as cursor:
            cursor.execute(_GROUP_NAMES, [user.pk])
            cached = {name for (name,) in cursor.fetchall() if name in ROLES}
        # Cached on the user object for the rest of the request; not a model field.
        user._cad_roles = cached  # type: ignore[attr-defined]
    return cached


def user_roles_known(user: User, group_names: list[str]) -> None:
    """Cache the user's roles from their group names, read with something else (the API
    token's statement reads them with the token), so `user_roles` needs no statement."""
    user._cad_roles = {name for name in group_names if name in ROLES}  # type: ignore[attr-defined]


_GROUP_NAMES = (
    f"SELECT g.name FROM {Group._meta.db_table} g "  # noqa: S608 (table names only)
    f"JOIN {User.groups.through._meta.db_table} ug ON ug.group_id = g.id WHERE ug.user_id = %s"
)


def has_role(user: User | AnonymousUser, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def user_bcu_code(user: User | AnonymousUser) -> str | None:
    """The BCU a user is scoped to, or None for all London."""
    if not user.is_authenticated:
        return None
    scope = getattr(user, "scope", None)
    try:
        return scope.bcu.code if scope and scope.bcu_id else None
    except Exception:  # noqa: BLE001  (a missing related row reads as no scope)
        return None


def in_scope(user: User | AnonymousUser, bcu_code: str | None) -> bool:
    """May this user act on something in `bcu_code`? Central users may act anywhere."""
    mine = user_bcu_code(user)
    return mine is None or bcu_code == mine


def apply_role_permissions(apps=None) -> None:
    """Create the role groups and set exactly the permissions in ROLE_PERMISSIONS.

    Permissions are normally created after migrations run; create them first so a fresh
    database gets complete groups from the data migration.
    """
    registry = apps or global_apps
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=registry, verbosity=0)
    Group = registry.get_model("auth", "Group")
    Permission = registry.get_model("auth", "Permission")
    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for app_label, model, actions in grants:
            for action in actions:
                permission = Permission.objects.filter(
                    content_type__app_label=app_label, codename=f"{action}_{model}"
                ).first()
                if permission is None and apps is not None:
                    # A data migration runs before the tables of models added later exist;
                    # the post-migrate run (CadConfig.ready) grants those.
                    continue
                if permission is None:
                    raise LookupError(f"no permission {app_label}.{action}_{model}")
                wanted.append(permission)
        group.permissions.set(wanted)


def ensure_roles(sender, **kwargs) -> None:
    """Keep the role groups whole after every migrate (and every test-database flush).

    Connected to post_migrate in CadConfig.ready. The data migration creates them on a new
    database; this puts back any that were removed and grants permissions for models added
    since, so groups never drift from this module.
    """
    apply_role_permissions()
