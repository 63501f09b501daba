"""Who may work the public's side. Checked on the server for the API and the pages alike."""

from cad.accounts.roles import CALL_HANDLER, SUPERVISOR, has_role, in_scope

# Triage is a call handler's job; supervisors watch the queue's age and can take a report too.
TRIAGERS = (CALL_HANDLER, SUPERVISOR)


def can_triage(user, report=None) -> bool:
    """With a report: a supervisor scoped to a BCU decides only that BCU's reports."""
    if not has_role(user, *TRIAGERS):
        return False
    if report is None or has_role(user, CALL_HANDLER):
        return True
    return in_scope(user, report.bcu.code if report.bcu_id else None)


def can_work_investigations(user) -> bool:
    return has_role(user, *TRIAGERS)
