from cad.accounts.roles import user_bcu_code, user_roles
from cad.accounts.selectors import user_preferences


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"cad_roles": set(), "cad_bcu": None}
    return {"cad_roles": user_roles(user), "cad_bcu": user_bcu_code(user)}


def preferences(request):
    """The user's screen settings (theme, shortcuts), read by every page when it loads."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"beacon_prefs": None}
    return {"beacon_prefs": user_preferences(user=user)}
