"""Who may see and change planned operations and major incidents (docs/planned-operations.md).

- see operations, their log, stream and the major incident record: every control-room role
  (the board shows them to despatchers; call handlers tell callers about road closures);
- plan an operation, write its log: supervisors of its BCU (central: any);
- declare a major incident and stand it down: supervisors whose scope holds the incident;
- add to the mobilisation list: despatchers and supervisors whose scope holds the incident.
"""

from cad.accounts.roles import ADMIN, CALL_HANDLER, DESPATCHER, SUPERVISOR, has_role, in_scope

READERS = (CALL_HANDLER, DESPATCHER, SUPERVISOR, ADMIN)


def can_read(user) -> bool:
    return has_role(user, *READERS)


def can_plan(user, bcu_code: str | None = None) -> bool:
    """With no BCU, the role only (checked before the request is read)."""
    return has_role(user, SUPERVISOR) and (bcu_code is None or in_scope(user, bcu_code))


def _incident_bcu(incident) -> str | None:
    return incident.bcu.code if incident.bcu is not None else None


def can_declare(user, incident=None) -> bool:
    if not has_role(user, SUPERVISOR):
        return False
    return incident is None or in_scope(user, _incident_bcu(incident))


def can_mobilise(user, incident=None) -> bool:
    if not has_role(user, DESPATCHER, SUPERVISOR):
        return False
    return incident is None or in_scope(user, _incident_bcu(incident))
