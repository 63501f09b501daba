"""The response plan kept a few seconds per process (engine.plan_lines): one round trip fewer
per recommendation, an edit here seen at once, one elsewhere within RECOMMEND_PLAN_CACHE_S."""

import pytest

from incidents.models import ResponsePlanItem
from resources.recommend import engine
from resources.recommend.engine import requirements_for
from tests.factories import make_incident_type, make_skill, make_unit_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_reads(monkeypatch) -> list[int]:
    """The type of each plan read from the database (a PostgreSQL statement prepared once
    names no table afterwards, so the reads are counted where they are made)."""
    reads: list[int] = []
    rows = engine.PLAN.rows

    def counted(shape, **values):
        reads.append(values["incident_type_id"])
        return rows(shape, **values)

    monkeypatch.setattr(engine.PLAN, "rows", counted)
    return reads


@pytest.fixture
def violence():
    taser = make_skill("TASER", "Taser")
    return make_incident_type("VIOL", default_grade="I", plan=[(None, taser, "I", 1)])


def needs(itype, grade="I") -> list[tuple[str | None, str | None, int]]:
    return [(r.unit_type, r.skill, r.count) for r in requirements_for(itype.pk, grade)]


def test_a_types_plan_is_read_once_for_many_recommendations(violence, kept_clock, plan_reads):
    for _ in range(5):
        assert needs(violence) == [(None, "TASER", 1)]
        assert needs(violence, "S") == []  # the same lines, filtered by grade
    other = make_incident_type("ASB1", default_grade="S")
    assert needs(other, "S") == []
    assert needs(other, "S") == []
    assert plan_reads == [violence.pk, other.pk]


def test_an_edit_in_this_process_is_seen_by_the_next_recommendation(violence, kept_clock):
    assert needs(violence) == [(None, "TASER", 1)]
    line = ResponsePlanItem.objects.get(incident_type=violence)
    line.count = 2
    line.save()
    assert needs(violence) == [(None, "TASER", 2)]
    ResponsePlanItem.objects.create(incident_type=violence, unit_type=make_unit_type("ARV"),
                                    grades="", count=1)  # fmt: skip
    assert needs(violence) == [(None, "TASER", 2), ("ARV", None, 1)]
    line.delete()
    assert needs(violence) == [("ARV", None, 1)]


def test_an_edit_in_another_process_is_seen_once_the_kept_plan_is_old(
    violence, kept_clock, settings
):
    settings.RECOMMEND_PLAN_CACHE_S = 10
    assert needs(violence) == [(None, "TASER", 1)]
    # Another process's edit sends no signal here: an update without one stands in for it.
    ResponsePlanItem.objects.filter(incident_type=violence).update(count=3)
    kept_clock.now += 9.9
    assert needs(violence) == [(None, "TASER", 1)]
    kept_clock.now += 0.2
    assert needs(violence) == [(None, "TASER", 3)]


def test_without_the_cache_every_recommendation_reads_the_plan(
    violence, kept_clock, settings, plan_reads
):
    settings.RECOMMEND_PLAN_CACHE_S = 0
    for _ in range(3):
        assert needs(violence) == [(None, "TASER", 1)]
    assert plan_reads == [violence.pk] * 3
