"""Two supervisors rostering one officer at once: the officer lock means the rules see both."""

import threading
from datetime import time

import pytest
from django.db import connection

from cad.accounts.roles import apply_role_permissions
from cad.errors import DomainError
from duties.models import ShiftAssignment
from duties.services import shift_officer_add
from duties.tests.conftest import make_shift


@pytest.fixture
def roles(transactional_db):
    # An earlier transactional test's flush removes the role groups the migration made.
    apply_role_permissions()


@pytest.mark.django_db(transaction=True)
def test_overlapping_shifts_added_at_once_only_one_wins(postgres, roles, world, future):
    shifts = [
        make_shift(world["CN"], None, future, "other", start=time(7, i), end=time(15, i))
        for i in range(10)
    ]
    barrier = threading.Barrier(len(shifts))
    outcomes: list[str] = []

    def worker(shift):
        try:
            barrier.wait()
            shift_officer_add(shift=shift, officer=world["a"], by=world["sup"], source="test")
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(s,)) for s in shifts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["double_booked"] * 9 + ["ok"]
    assert ShiftAssignment.objects.filter(officer=world["a"]).count() == 1
