"""The board page and the JSON it reads over HTTP (the snapshot it polls, the boundaries)."""

import json

import pytest
from django.db import connection

from cad.live.snapshot import board_snapshot
from incidents.operations.services import major_incident_declare, mobilisation_add
from incidents.tests.test_major_incident import METHANE
from resources import despatch
from tests.factories import make_incident, make_unit


@pytest.fixture
def world(geography, cast):
    desk = cast.despatcher_cn
    return {
        "desk": desk,
        "cn01": make_unit(geography["kentish"], callsign="CN01"),
        "as01": make_unit(geography["brixton"], callsign="AS01"),
        "camden": make_incident(desk, where="camden", grade="I"),
        "lambeth": make_incident(desk, where="lambeth", grade="I"),
    }


def test_board_page_for_a_despatcher(client, world, settings):
    settings.MAP_TILE_URL = "http://tiles.invalid/{z}/{x}/{y}.png"
    client.force_login(world["desk"])
    response = client.get("/board/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="/static/js/board.js"' in html and "leaflet/leaflet.js" in html
    config = json.loads(html.split('id="board-config" type="application/json">')[1].split("<")[0])
    assert config["bcu"] == "CN" and config["ws_path"] == "/ws/board/"
    assert config["tile_url"] == settings.MAP_TILE_URL
    assert config["timers"]["I"]["not_en_route"] >= 1


@pytest.mark.parametrize("path", ["/board/", "/board/snapshot/"])
def test_board_is_for_desks_only(client, make_user, path):
    client.force_login(make_user("call_handler"))
    assert client.get(path).status_code == 403


def test_boundaries_are_for_the_control_room_maps(client, make_user):
    client.force_login(make_user("radio_gateway"))
    assert client.get("/board/boundaries/").status_code == 403


def test_polled_snapshot_is_scoped_to_the_desk(client, world):
    client.force_login(world["desk"])
    body = client.get("/board/snapshot/").json()
    assert body["type"] == "snapshot" and isinstance(body["seq"], int)
    assert [i["id"] for i in body["data"]["incidents"]] == [world["camden"].pk]
    assert [u["callsign"] for u in body["data"]["units"]] == ["CN01"]


def test_cross_border_unit_and_incident_appear_on_both_desks(world):
    despatch.assignment_create(incident=world["lambeth"], unit=world["cn01"], by=world["desk"])
    as_view = board_snapshot(bcu="AS")["data"]
    assert {u["callsign"] for u in as_view["units"]} == {"AS01", "CN01"}
    cn_view = board_snapshot(bcu="CN")["data"]
    assert {i["id"] for i in cn_view["incidents"]} == {world["camden"].pk, world["lambeth"].pk}


def test_boundaries_geojson(client, world):
    client.force_login(world["desk"])
    body = client.get("/board/boundaries/").json()
    assert body["type"] == "FeatureCollection"
    assert {(f["properties"]["name"], f["properties"]["bcu"]) for f in body["features"]} == {
        ("Camden", "CN"), ("Lambeth", "AS"),
    }  # fmt: skip


def test_snapshot_query_count_does_not_grow(world, django_assert_max_num_queries):
    """Issue 4's target: at most 5 queries, whatever the rows (on PostgreSQL, where a unit's
    row carries its skills; SQLite reads them apart). A declared major incident's mobilisation
    is one more."""
    apart = 0 if connection.vendor == "postgresql" else 1
    incidents = []
    for n in range(15):
        make_unit(world["cn01"].station, skills=["TASER"])
        where = "camden" if n % 2 else "lambeth"
        incidents.append(make_incident(world["desk"], where=where, grade="I"))
    with django_assert_max_num_queries(5 + apart):
        data = board_snapshot(bcu=None)["data"]
    assert len(data["incidents"]) == 17 and len(data["units"]) == 17
    skills = {u["callsign"]: u["skills"] for u in data["units"]}
    assert skills.pop("CN01") == skills.pop("AS01") == []
    assert all(unit_skills == ["TASER"] for unit_skills in skills.values())
    for incident in incidents[::5]:  # the major incident banner's section (issue 17)
        major = major_incident_declare(incident=incident, by=world["desk"], methane=METHANE)
        mobilisation_add(major=major, by=world["desk"], kind="unit", name="CN01")
    with django_assert_max_num_queries(6 + apart):
        data = board_snapshot(bcu=None)["data"]
    assert len(data["major_incidents"]) == 3


@pytest.mark.django_db
def test_maps_have_no_tile_server_by_default_and_attribution_from_settings(
    client, make_user, geography, settings
):
    assert settings.MAP_TILE_URL == ""  # no public tile server unless configured
    client.force_login(make_user("despatcher"))
    settings.MAP_TILE_URL = "https://tiles.force.example/{z}/{x}/{y}.png"
    settings.MAP_TILE_ATTRIBUTION = "© OpenStreetMap contributors, tiles: Force GIS"
    config = client.get("/board/").context["config"]
    assert config["tile_attribution"] == "© OpenStreetMap contributors, tiles: Force GIS"
    client.force_login(make_user("call_handler"))
    page = client.get("/calls/").content.decode()
    assert 'data-attribution="© OpenStreetMap contributors, tiles: Force GIS"' in page
    assert client.get("/board/boundaries/").status_code == 200  # the call-taker's map uses it
