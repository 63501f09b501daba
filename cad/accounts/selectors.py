"""Reads about the signed-in user that pages and the API share."""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from cad.accounts.models import UserPreferences
from cad.accounts.preferences import DEFAULTS, effective_keys


def user_preferences(*, user: User | AnonymousUser) -> dict[str, Any]:
    """The user's screen settings with every default filled in (anonymous: the defaults)."""
    row = None
    if user.is_authenticated:
        row = UserPreferences.objects.filter(user=user).first()
    if row is None:
        return {**DEFAULTS, "keys": effective_keys(None), "updated_at": None}
    return {
        "shortcuts": row.shortcuts,
        "confirm_despatch": row.confirm_despatch,
        "theme": row.theme,
        "keys": effective_keys(row.keys),
        "updated_at": row.updated_at.isoformat(),
    }
