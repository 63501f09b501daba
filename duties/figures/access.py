"""Who may read the figures, and for which BCU: supervisors (a scoped one, their own BCU only)
and admins (any BCU, or all London). Checked here for both the pages and the API."""

from datetime import date, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework import serializers

from cad.accounts.roles import ADMIN, SUPERVISOR, has_role, user_bcu_code
from cad.models import BCU

DEFAULT_DAYS = 28
MAX_RANGE_DAYS = 366  # a year of figures at once (the benchmark's size)


def figures_refusal(user: User | AnonymousUser) -> str | None:
    if not has_role(user, SUPERVISOR, ADMIN):
        return "Performance figures are for supervisors and admins."
    return None


class FiguresRange(serializers.Serializer):
    """`?from=&to=` (London dates, inclusive) and `bcu` (a code; empty = all the reader sees)."""

    bcu = serializers.CharField(required=False, allow_blank=True, max_length=8)

    def validate_bcu(self, value: str) -> str | None:
        code = value.strip().upper()
        if code and not BCU.objects.filter(code=code).exists():
            raise serializers.ValidationError(f"Unknown BCU {code[:8]!r}.")
        return code or None

    def validate(self, attrs):
        attrs = super().validate(attrs)
        today = timezone.localdate()
        attrs.setdefault("to", today)
        attrs.setdefault("from", attrs["to"] - timedelta(days=DEFAULT_DAYS - 1))
        if attrs["to"] < attrs["from"]:
            raise serializers.ValidationError({"to": ["must not be before from"]})
        if (attrs["to"] - attrs["from"]).days >= MAX_RANGE_DAYS:
            raise serializers.ValidationError({"to": [f"at most {MAX_RANGE_DAYS} days at once"]})
        return attrs


# `from` is a Python keyword, so the date fields are declared this way.
FiguresRange._declared_fields["from"] = serializers.DateField(required=False)
FiguresRange._declared_fields["to"] = serializers.DateField(required=False)


def figures_scope(user: User | AnonymousUser, params) -> tuple[str | None, date, date]:
    """(BCU, from, to) this reader asked for and may see. A reader scoped to a BCU gets it by
    default and is refused any other; raises ValidationError (400) for bad input."""
    data = FiguresRange(data=params)
    data.is_valid(raise_exception=True)
    attrs = data.validated_data
    mine = user_bcu_code(user)
    bcu = attrs.get("bcu") or mine
    if mine is not None and bcu != mine:
        raise PermissionDenied(f"Your figures are for {mine} only.")
    return bcu, attrs["from"], attrs["to"]
