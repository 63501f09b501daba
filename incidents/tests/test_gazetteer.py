"""The gazetteer: the demo generator, the CSV import and the search behind autocomplete."""

import pytest
from django.core.management import CommandError, call_command

from cad.geo.geometry import borough_at
from incidents.demo_gazetteer import STREETS, seed_gazetteer
from incidents.models import GazetteerEntry
from incidents.selectors import gazetteer_resolve, gazetteer_search

pytestmark = pytest.mark.django_db


def test_demo_gazetteer_is_idempotent_and_searchable():
    count = seed_gazetteer()
    assert count == GazetteerEntry.objects.count() > 3000
    assert seed_gazetteer() == count and GazetteerEntry.objects.count() == count
    found = gazetteer_search(q="12 camden high")
    assert found[0]["address"] == "12 Camden High Street, Camden"
    assert gazetteer_search(q="kings cross")[0]["kind"] == "place"
    assert all(s[3] != s[4] for s in STREETS)


def test_demo_streets_fall_in_their_boroughs_when_real_boundaries_are_loaded():
    """With the real borough boundaries (shared data), each street lies inside London's boroughs."""
    import json

    from django.conf import settings

    from tests.factories import make_borough  # noqa: F401  (keeps the factory import path honest)

    path = settings.BASE_DIR.parent / "shared" / "data" / "london_boroughs.geojson"
    if not path.exists():
        pytest.skip("shared data absent")
    from cad.geo.geometry import bbox_of, centroid_of
    from cad.models import BCU, Borough

    bcu = BCU.objects.create(code="XX", name="All")
    for feature in json.loads(path.read_text())["features"]:
        geometry = feature["geometry"]
        box = bbox_of(geometry)
        lat, lon = centroid_of(geometry)
        name = next((v for k, v in feature["properties"].items() if "name" in k.lower()), None)
        Borough.objects.create(
            name=str(name or len(Borough.objects.all())),
            bcu=bcu,
            boundary=geometry,
            min_lat=box.min_lat,
            max_lat=box.max_lat,
            min_lon=box.min_lon,
            max_lon=box.max_lon,
            centre_lat=lat,
            centre_lon=lon,
        )
    outside = []
    for street, area, _, start, end in STREETS:
        for lat, lon in (start, end):
            borough = borough_at(lat, lon)
            if borough is None or "city of london" in borough.name.lower():
                outside.append((street, area, lat, lon))
    assert outside == []


def test_import_csv_upserts_and_reports_bad_rows(tmp_path, capsys):
    path = tmp_path / "g.csv"
    path.write_text(
        "UPRN,Address,Postcode,Lat,Lon\n"
        "100023336956,10 Downing Street,SW1A 2AA,51.50344,-0.12767\n"
        "abc,Bad uprn,X,51.5,-0.1\n"
        "100000000001,Paris,75001,48.86,2.35\n"
    )
    call_command("import_gazetteer", str(path))
    assert GazetteerEntry.objects.get(uprn="100023336956").postcode == "SW1A 2AA"
    assert GazetteerEntry.objects.count() == 1
    err = capsys.readouterr().err
    assert "line 3" in err and "line 4" in err and "outside" in err
    path.write_text(
        "UPRN,Address,Postcode,Lat,Lon\n100023336956,10 Downing St,SW1A 2AA,51.50344,-0.12767\n"
    )
    call_command("import_gazetteer", str(path))
    assert GazetteerEntry.objects.get(uprn="100023336956").address == "10 Downing St"
    entry, _ = gazetteer_resolve("10 downing st")
    assert entry is not None and entry["lat"] == 51.50344


def test_import_refuses_missing_columns_and_strict_mode(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("UPRN,Address\n1,x\n")
    with pytest.raises(CommandError, match="missing column"):
        call_command("import_gazetteer", str(path))
    path.write_text("UPRN,Address,Postcode,Lat,Lon\nabc,x,y,51.5,-0.1\n")
    with pytest.raises(CommandError):
        call_command("import_gazetteer", str(path), "--strict")
    assert GazetteerEntry.objects.count() == 0
