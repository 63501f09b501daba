"""Linking an account to its roster officer (`cad_user --role officer --collar N`).

The roster lives in `duties`, above `cad`, so the command cannot write it: duties registers the
function that does from DutiesConfig.ready, and the command calls it through here.
"""

from collections.abc import Callable

from django.contrib.auth.models import User

from cad.errors import DomainError

# (user, collar number, source) -> the officer's description, for the command's output.
OfficerLinker = Callable[..., str]
_linker: list[OfficerLinker] = []


def register_officer_linker(linker: OfficerLinker) -> None:
    _linker[:] = [linker]


def officer_link(*, user: User, collar: str, by: User | None, source: str) -> str:
    """Link `user` to the officer with `collar`; DomainError when nobody has that number."""
    if not _linker:
        raise DomainError("no roster is installed to link officers to", code="no_roster")
    return _linker[0](user=user, collar=collar, by=by, source=source)
