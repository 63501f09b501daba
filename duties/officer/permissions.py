"""Who may use the officer's view: an account with the `officer` role, linked to a roster
officer. Checked before anything is read, so nobody else learns what exists (403 for all)."""

from rest_framework.exceptions import PermissionDenied

from cad.accounts.roles import OFFICER, has_role
from duties.officer.selectors import Post, officer_post


def post_or_refuse(user) -> Post:
    """The caller's post (officer and crewing), or 403."""
    if not has_role(user, OFFICER):
        raise PermissionDenied("This is the officers' view.")
    post = officer_post(user=user)
    if post is None:
        raise PermissionDenied("Your account is not linked to a roster officer.")
    return post
