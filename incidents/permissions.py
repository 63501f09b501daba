"""Who may do what to an incident. Checked on the server for the API and the pages alike."""

from cad.accounts.roles import ADMIN, CALL_HANDLER, DESPATCHER, SUPERVISOR, has_role, in_scope

CREATORS = (CALL_HANDLER, DESPATCHER, SUPERVISOR)
READERS = (CALL_HANDLER, DESPATCHER, SUPERVISOR, ADMIN)
# Roles with a reason to ring a caller back; admins maintain data and never need names.
PERSONAL_READERS = (CALL_HANDLER, DESPATCHER, SUPERVISOR)
MANAGERS = (DESPATCHER, SUPERVISOR)


def can_create(user) -> bool:
    return has_role(user, *CREATORS)


def can_read(user) -> bool:
    return has_role(user, *READERS)


def can_read_personal(user) -> bool:
    return has_role(user, *PERSONAL_READERS)


def _bcu_of(incident) -> str | None:
    return incident.bcu.code if incident.bcu_id else None


def can_add_call_or_log(user, incident) -> bool:
    """Call handlers add calls and log notes anywhere; local desks within their BCU."""
    if has_role(user, CALL_HANDLER):
        return True
    return has_role(user, *MANAGERS) and in_scope(user, _bcu_of(incident))


def can_manage(user, incident) -> bool:
    """Re-grade, qualifiers, links, close: despatchers and supervisors, within their BCU."""
    return has_role(user, *MANAGERS) and in_scope(user, _bcu_of(incident))


def can_link(user, incident, other) -> bool:
    """A link is written into both incidents' logs and onto both BCUs' streams: both in scope."""
    return can_manage(user, incident) and can_manage(user, other)


def can_reopen(user, incident) -> bool:
    return has_role(user, SUPERVISOR) and in_scope(user, _bcu_of(incident))


def can_manage_warnings(user) -> bool:
    return has_role(user, CALL_HANDLER, DESPATCHER, SUPERVISOR)


def can_expire_warnings(user) -> bool:
    return has_role(user, DESPATCHER, SUPERVISOR, ADMIN)
