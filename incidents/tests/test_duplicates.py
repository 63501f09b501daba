"""Possible duplicates, location history and warnings: inside and outside radius and window."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from cad.geo.geometry import haversine_m
from incidents import services
from incidents.selectors import location_check, location_history, possible_duplicates
from tests.factories import CAMDEN, make_closing_code, make_incident

pytestmark = pytest.mark.django_db
LAT, LON = CAMDEN
# Metres to degrees near London: 1e-5 degrees of latitude is about 1.11 m.
M_LAT = 1 / 111_320


@pytest.fixture
def handler(cast):
    return cast.handler


def test_duplicates_inside_radius_and_window_only(handler):
    now = timezone.now()
    near = make_incident(handler, lat=LAT + 150 * M_LAT, lon=LON, at=now - timedelta(minutes=10))
    make_incident(handler, lat=LAT + 260 * M_LAT, lon=LON, at=now - timedelta(minutes=10))  # far
    make_incident(handler, lat=LAT, lon=LON, at=now - timedelta(minutes=75))  # too old
    # East-west: 150 m of longitude at this latitude, inside; 250 m outside.
    k = 1 / (111_320 * 0.6225)
    east = make_incident(handler, lat=LAT, lon=LON + 150 * k, at=now - timedelta(minutes=1))
    make_incident(handler, lat=LAT, lon=LON + 250 * k, at=now - timedelta(minutes=1))
    found = possible_duplicates(lat=LAT, lon=LON, at=now)
    assert [d["id"] for d in found] == sorted(
        [near.id, east.id], key=lambda i: round(haversine_m(LAT, LON, *_pos(i)))
    )
    assert all(140 <= d["distance_m"] <= 160 for d in found)


def _pos(pk):
    from incidents.models import Incident

    return Incident.objects.values_list("lat", "lon").get(pk=pk)


def test_closed_incidents_are_not_duplicates_but_are_history(handler, make_user):
    make_closing_code("NFA")
    closed = make_incident(handler)
    services.incident_close(incident=closed, by=make_user("despatcher"), closing_code="NFA")
    assert possible_duplicates(lat=LAT, lon=LON) == []
    assert [h["id"] for h in location_history(lat=LAT, lon=LON)] == [closed.id]


@override_settings(DUPLICATE_RADIUS_M=500, DUPLICATE_WINDOW_MINUTES=120)
def test_radius_and_window_are_configurable(handler):
    now = timezone.now()
    target = make_incident(handler, lat=LAT + 400 * M_LAT, lon=LON, at=now - timedelta(minutes=100))
    assert [d["id"] for d in possible_duplicates(lat=LAT, lon=LON, at=now)] == [target.id]


def test_history_within_50m_and_12_months(handler):
    now = timezone.now()
    recent = make_incident(handler, lat=LAT + 40 * M_LAT, lon=LON, at=now - timedelta(days=200))
    make_incident(handler, lat=LAT + 60 * M_LAT, lon=LON, at=now - timedelta(days=10))  # too far
    make_incident(handler, lat=LAT, lon=LON, at=now - timedelta(days=400))  # too old
    assert [h["id"] for h in location_history(lat=LAT, lon=LON, at=now)] == [recent.id]


def test_check_includes_active_warnings_near_the_point(handler, make_user):
    services.warning_marker_create(
        by=handler, address="1 A St", lat=LAT + 20 * M_LAT, lon=LON, text="dog on premises"
    )
    services.warning_marker_create(
        by=handler, address="far", lat=LAT + 300 * M_LAT, lon=LON, text="far away"
    )
    old = services.warning_marker_create(
        by=handler, address="1 A St", lat=LAT, lon=LON, text="violent occupant"
    )
    services.warning_marker_expire(marker=old, by=make_user("despatcher"))
    check = location_check(lat=LAT, lon=LON)
    assert [w["text"] for w in check["warnings"]] == ["dog on premises"]
    assert check["bcu"] == "CN" and check["in_force_area"] is True
