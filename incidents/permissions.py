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
    return incident.bcu.code if incident.bcu is not None else None


# The checks below take the incident; with None they check only the role. The API asks that
# first, before it looks anything up, so someone without the role learns nothing from a 404.


def can_add_call_or_log(user, incident=None) -> bool:
    """Call handlers add calls and log notes anywhere; local desks within their BCU."""
    if has_role(user, CALL_HANDLER):
        return True
    if not has_role(user, *MANAGERS):
        return False
    return incident is None or in_scope(user, _bcu_of(incident))


def can_manage(user, incident=None) -> bool:
    """Re-grade, qualifiers, links, close: despatchers and supervisors, within their BCU."""
    if not has_role(user, *MANAGERS):
        return False
    return incident is None or in_scope(user, _bcu_of(incident))


def can_link(user, incident, other) -> bool:
    """A link is written into both incidents' logs and onto both BCUs' streams: both in scope."""
    return can_manage(user, incident) and can_manage(user, other)


def can_reopen(user, incident=None) -> bool:
    if not has_role(user, SUPERVISOR):
        return False
    return incident is None or in_scope(user, _bcu_of(incident))


def can_manage_warnings(user) -> bool:
    return has_role(user, CALL_HANDLER, DESPATCHER, SUPERVISOR)


def can_expire_warnings(user) -> bool:
    return has_role(user, DESPATCHER, SUPERVISOR, ADMIN)
