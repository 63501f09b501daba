"""Stored Idempotency-Key answers are forgotten after a day, and only then."""

from datetime import timedelta

from django.utils import timezone

from cad.models import IdempotencyKey
from cad.tasks import purge_idempotency_keys


def test_purge_removes_only_keys_older_than_a_day(make_user):
    user = make_user("call_handler")
    old = IdempotencyKey.objects.create(user=user, key="old", fingerprint="a" * 64)
    fresh = IdempotencyKey.objects.create(user=user, key="fresh", fingerprint="b" * 64)
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert purge_idempotency_keys() == 0  # running it again is harmless
