"""Who may change duties. One set of checks for the API and the pages, so they cannot drift.

Each function returns why the change is refused, or None when it is allowed; the API raises
DRF's PermissionDenied with it and the pages Django's, both a 403.
"""

from cad.accounts.roles import SUPERVISOR, has_role, in_scope, user_bcu_code
from duties.models import Officer, Shift
from resources.models import Unit


def officer_of(user) -> Officer | None:
    """The roster officer linked to this account, if any."""
    return getattr(user, "officer", None) if user.is_authenticated else None


def may_crew(user) -> bool:
    """Whether the user may book crews on or off at all: checked before the request is read,
    so an answer about the request (400, 404, 409) never reaches someone with no business."""
    return has_role(user, SUPERVISOR) or officer_of(user) is not None


def supervisor_refusal(user, *bcu_codes: str) -> str | None:
    """Supervisors change their own BCU only (central supervisors: any)."""
    if not has_role(user, SUPERVISOR):
        return "Only a supervisor may change rosters."
    if any(not in_scope(user, code) for code in bcu_codes):
        return f"You may change rosters in {user_bcu_code(user)} only."
    return None


def _crew_refusal(user, bcu_codes: tuple[str, ...], officers: list[Officer]) -> str | None:
    me = officer_of(user)
    if me is not None and [o.pk for o in officers] == [me.pk]:
        return None  # officers book only themselves
    if not has_role(user, SUPERVISOR):
        return "You may book on or off only yourself."
    if any(not in_scope(user, code) for code in bcu_codes):
        return f"You may crew units of {user_bcu_code(user)} only."
    return None


def crew_book_on_refusal(user, *, unit: Unit, shift: Shift, officers: list[Officer]) -> str | None:
    """Booking on touches the shift and the unit: a supervisor needs both in scope."""
    return _crew_refusal(user, (shift.bcu.code, unit.bcu.code), officers)


def crew_book_off_refusal(user, *, unit: Unit, officers: list[Officer]) -> str | None:
    """Booking off touches the unit (and the crews' shifts, which are the unit's BCU's)."""
    return _crew_refusal(user, (unit.bcu.code,), officers)
