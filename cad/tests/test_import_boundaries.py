"""`manage.py import_boundaries`: real borough polygons replace the generated ones."""

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from cad.geo.geometry import bcu_at, borough_at
from cad.management.commands.import_boundaries import normalise
from cad.management.commands.seed_demo import Seed, seed_geography
from cad.models import AuditEvent, Borough

BOROUGHS_FILE = Path(settings.BASE_DIR).parent / "shared" / "data" / "london_boroughs.geojson"

KNOWN_POINTS = [
    ((51.4995, -0.1248), "Westminster", "AW"),  # Palace of Westminster
    ((51.4613, -0.1156), "Lambeth", "AS"),  # Brixton
    ((51.3762, -0.0982), "Croydon", "SN"),  # Croydon town centre
    ((51.4700, -0.4543), "Hillingdon", "WA"),  # Heathrow
    ((51.5768, 0.1801), "Havering", "EA"),  # Romford
    ((51.5416, -0.1426), "Camden", "CN"),  # Camden Town
    ((51.4826, 0.0077), "Greenwich", "SE"),  # Greenwich town centre
    ((51.5390, 0.0518), "Newham", "NE"),  # East Ham
]


@pytest.fixture
def boroughs_file():
    if not BOROUGHS_FILE.exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must provide {BOROUGHS_FILE}")
        pytest.skip(f"shared data not present: {BOROUGHS_FILE}")
    return BOROUGHS_FILE


@pytest.fixture
def demo_geography(db):
    seed_geography(Seed(now=timezone.now()))


def _write(tmp_path, features, **extra) -> Path:
    path = tmp_path / "boroughs.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, **extra}))
    return path


def _feature(name, lat=51.545, lon=-0.16, half=0.02, code="E09000007"):
    ring = [
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
        [lon - half, lat + half], [lon - half, lat - half],
    ]  # fmt: skip
    return {
        "type": "Feature",
        "properties": {"NAME": name, "GSS_CODE": code},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("Kingston upon Thames", "Kingston"),
        ("Richmond upon Thames", "Richmond"),
        ("Barking and Dagenham", "Barking & Dagenham"),
        ("Hammersmith and Fulham", "Hammersmith & Fulham"),
        ("Royal Borough of Kensington and Chelsea", "Kensington & Chelsea"),
        ("London Borough of Tower Hamlets", "Tower Hamlets"),
        ("City of Westminster", "Westminster"),
    ],
)
def test_names_match_after_normalising(theirs, ours):
    assert normalise(theirs) == normalise(ours)


def test_different_boroughs_stay_different():
    names = [
        "Kingston", "Richmond", "Westminster", "City of London", "Kensington & Chelsea",
        "Hammersmith & Fulham", "Barking & Dagenham", "Waltham Forest", "Tower Hamlets",
    ]  # fmt: skip
    assert len({normalise(n) for n in names}) == len(names)


def test_import_puts_known_points_in_the_right_borough(demo_geography, boroughs_file):
    out = StringIO()
    call_command("import_boundaries", str(boroughs_file), stdout=out)
    text = out.getvalue()
    assert "skipped  City of London" in text
    assert "Imported 32 borough boundaries" in text

    for (lat, lon), borough, bcu in KNOWN_POINTS:
        found = borough_at(lat, lon)
        assert found is not None and found.name == borough, (lat, lon, found)
        assert bcu_at(lat, lon).code == bcu
    # The City of London is not an MPS borough: a point in it belongs to none.
    assert borough_at(51.5138, -0.0984) is None
    assert bcu_at(51.5138, -0.0984) is None

    camden = Borough.objects.get(name="Camden")
    assert camden.gss_code == "E09000007"
    assert camden.boundary_source == "imported from london_boroughs.geojson"
    assert camden.min_lat < camden.centre_lat < camden.max_lat
    assert camden.min_lon < camden.centre_lon < camden.max_lon
    assert borough_at(camden.centre_lat, camden.centre_lon) == camden
    assert Borough.objects.exclude(boundary_source__startswith="imported").count() == 0
    # Greenwich and Newham are multipolygons in the file (land both sides of the Thames).
    assert Borough.objects.get(name="Greenwich").boundary["type"] == "MultiPolygon"

    audits = AuditEvent.objects.filter(object_type="cad.borough", source="cli")
    assert audits.count() == 32
    assert audits.filter(user__isnull=True, action="update").count() == 32


def test_seed_demo_keeps_imported_boundaries(demo_geography, boroughs_file):
    call_command("import_boundaries", str(boroughs_file), stdout=StringIO())
    before = {b.name: (b.boundary_source, b.min_lat) for b in Borough.objects.all()}
    seed_geography(Seed(now=timezone.now()))
    after = {b.name: (b.boundary_source, b.min_lat) for b in Borough.objects.all()}
    assert after == before


def test_unknown_feature_fails_and_changes_nothing(demo_geography, tmp_path):
    path = _write(tmp_path, [_feature("Camden"), _feature("Atlantis")])
    with pytest.raises(CommandError, match="Atlantis"):
        call_command("import_boundaries", str(path), "--partial", stdout=StringIO())
    assert Borough.objects.get(name="Camden").boundary_source == "generated by seed_demo"
    assert not AuditEvent.objects.filter(object_type="cad.borough").exists()


def test_missing_borough_fails_unless_partial(demo_geography, tmp_path):
    path = _write(tmp_path, [_feature("Camden")])
    with pytest.raises(CommandError, match="no boundary in the file for: .*Westminster"):
        call_command("import_boundaries", str(path), stdout=StringIO())
    assert Borough.objects.get(name="Camden").boundary_source == "generated by seed_demo"

    call_command("import_boundaries", str(path), "--partial", stdout=StringIO())
    camden = Borough.objects.get(name="Camden")
    assert camden.boundary_source == "imported from boroughs.geojson"
    assert (camden.min_lat, camden.max_lat) == (pytest.approx(51.525), pytest.approx(51.565))
    assert Borough.objects.get(name="Islington").boundary_source == "generated by seed_demo"


def test_projected_or_swapped_coordinates_are_refused(demo_geography, tmp_path):
    swapped = _feature("Camden")
    swapped["geometry"]["coordinates"] = [
        [[y, x] for x, y in swapped["geometry"]["coordinates"][0]]
    ]
    with pytest.raises(CommandError, match="lon/lat"):
        call_command("import_boundaries", str(_write(tmp_path, [swapped])), "--partial")
    bng = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}
    with pytest.raises(CommandError, match="27700"):
        call_command("import_boundaries", str(_write(tmp_path, [_feature("Camden")], crs=bng)))
    (tmp_path / "junk.geojson").write_text("{not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_boundaries", str(tmp_path / "junk.geojson"))
    assert Borough.objects.get(name="Camden").boundary_source == "generated by seed_demo"
