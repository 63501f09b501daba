from cad.accounts.roles import user_bcu_code, user_roles


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"cad_roles": set(), "cad_bcu": None}
    return {"cad_roles": user_roles(user), "cad_bcu": user_bcu_code(user)}
