"""`manage.py import_boundaries FILE.geojson`: load real borough boundaries over the generated ones.

Takes a GeoJSON FeatureCollection of London boroughs in WGS84 lon/lat (CRS84, e.g. the ONS/GLA
"London_Borough_Excluding_MHW" export) with the borough name in a NAME property (`--name-field`
to change) and the ONS code in GSS_CODE. Features are matched to our boroughs by normalised name,
so "Kingston upon Thames" is Kingston and "Barking and Dagenham" is Barking & Dagenham. The City
of London has its own police force and is skipped. All or nothing: one transaction, and any
borough left unmatched (or a feature we cannot place) fails the import with a non-zero exit.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cad.audit.trail import audit_record
from cad.geo.geometry import bbox_of, centroid_of, point_in_geometry
from cad.models import Borough

# Boroughs in London but not policed by the MPS.
NOT_MPS = {"city of london": "the City of London has its own police force"}
LONLAT_CRS = {
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "urn:ogc:def:crs:EPSG::4326",
    "EPSG:4326",
}


_NOISE = re.compile(r"\b(london borough of|royal borough of|upon thames)\b")
_ALIASES = {"city of westminster": "westminster"}


def normalise(name: str) -> str:
    """A borough name reduced to what tells boroughs apart: 'Kingston upon Thames' → 'kingston',
    'Barking & Dagenham' and 'Barking and Dagenham' → 'barking and dagenham'."""
    name = re.sub(r"[^a-z ]+", " ", name.lower().replace("&", " and "))
    name = " ".join(_NOISE.sub(" ", name).split())
    return _ALIASES.get(name, name)


def _clean_geometry(geometry: Any, label: str) -> dict:
    """A validated Polygon/MultiPolygon with [lon, lat] pairs rounded to 6 places (~0.1 m)."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise CommandError(f"{label}: geometry must be a Polygon or MultiPolygon")
    polygons: Any = (  # untrusted JSON: its shape is checked below
        [geometry.get("coordinates")]
        if geometry["type"] == "Polygon"
        else geometry.get("coordinates")
    )
    bounds = settings.FORCE_AREA_BOUNDS
    cleaned = []
    try:
        for polygon in polygons:
            rings = []
            for ring in polygon:
                points = [[round(float(p[0]), 6), round(float(p[1]), 6)] for p in ring]
                if len(points) < 4:
                    raise CommandError(f"{label}: a ring has fewer than 4 points")
                for lon, lat in points:
                    # Catches swapped axes and projected grids (British National Grid metres).
                    if not (math.isfinite(lat) and math.isfinite(lon)) or not (
                        bounds["min_lat"] - 0.5 <= lat <= bounds["max_lat"] + 0.5
                        and bounds["min_lon"] - 0.5 <= lon <= bounds["max_lon"] + 0.5
                    ):
                        raise CommandError(
                            f"{label}: point ({lon}, {lat}) is not a London lon/lat; "
                            "the file must be WGS84 (CRS84) in [lon, lat] order"
                        )
                rings.append(points)
            if not rings:
                raise CommandError(f"{label}: a polygon has no rings")
            cleaned.append(rings)
    except (TypeError, ValueError, IndexError) as exc:
        raise CommandError(f"{label}: malformed coordinates ({exc})") from exc
    if not cleaned:
        raise CommandError(f"{label}: empty geometry")
    if geometry["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": cleaned[0]}
    return {"type": "MultiPolygon", "coordinates": cleaned}


class Command(BaseCommand):
    help = "Replace borough boundaries with real ones from a GeoJSON file (WGS84 lon/lat)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--name-field", default="NAME", help="property holding the name")
        parser.add_argument("--code-field", default="GSS_CODE", help="property holding the code")
        parser.add_argument(
            "--partial",
            action="store_true",
            help="allow the file to cover only some of our boroughs",
        )

    def handle(self, *args, file: Path, name_field: str, code_field: str, partial: bool, **opts):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from exc
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise CommandError(f"{file} is not a GeoJSON FeatureCollection")
        crs = ((data.get("crs") or {}).get("properties") or {}).get("name")
        if crs and crs not in LONLAT_CRS:
            raise CommandError(f"{file} is in {crs}; convert it to WGS84 lon/lat (CRS84) first")

        with transaction.atomic():
            boroughs = {
                normalise(b.name): b for b in Borough.objects.select_for_update(no_key=True)
            }
            matched: dict[str, tuple[Borough, str, dict]] = {}
            problems: list[str] = []
            for i, feature in enumerate(data.get("features") or []):
                if not isinstance(feature, dict):
                    problems.append(f"feature {i} is not a GeoJSON Feature")
                    continue
                props = feature.get("properties") or {}
                name = str(props.get(name_field) or "").strip()
                key = normalise(name)
                if key in NOT_MPS:
                    self.stdout.write(f"skipped  {name}: {NOT_MPS[key]}")
                    continue
                borough = boroughs.get(key)
                if borough is None:
                    problems.append(f"feature {i} {name!r} matches none of our boroughs")
                    continue
                if key in matched:
                    problems.append(f"{name!r} appears more than once")
                    continue
                geometry = _clean_geometry(feature.get("geometry"), f"feature {i} {name!r}")
                matched[key] = (borough, str(props.get(code_field) or "")[:9], geometry)
            missing = sorted(b.name for k, b in boroughs.items() if k not in matched)
            if missing and not partial:
                problems.append(f"no boundary in the file for: {', '.join(missing)}")
            if problems:
                raise CommandError("nothing imported:\n  " + "\n  ".join(problems))

            source = f"imported from {file.name}"[:100]
            for _key, (borough, gss_code, geometry) in sorted(matched.items()):
                self._apply(borough, gss_code, geometry, source)
                self.stdout.write(f"matched  {borough.name} ({borough.bcu.code}) ← {gss_code}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(matched)} borough boundaries from {file}"
                + (f"; kept the old boundary of {', '.join(missing)}" if missing else "")
            )
        )

    def _apply(self, borough: Borough, gss_code: str, geometry: dict, source: str) -> None:
        box = bbox_of(geometry)
        lat, lon = centroid_of(geometry)
        if not point_in_geometry(lat, lon, geometry) and point_in_geometry(
            borough.centre_lat, borough.centre_lon, geometry
        ):
            # A crescent-shaped borough's centroid can lie outside it; a centre that is
            # inside serves better as a map label and a fallback position.
            lat, lon = borough.centre_lat, borough.centre_lon
        before = {"gss_code": borough.gss_code, "boundary_source": borough.boundary_source}
        borough.boundary = geometry
        borough.boundary_source = source
        borough.gss_code = gss_code
        borough.min_lat, borough.max_lat, borough.min_lon, borough.max_lon = box
        borough.centre_lat, borough.centre_lon = round(lat, 6), round(lon, 6)
        borough.save()
        after = {"gss_code": gss_code, "boundary_source": source}
        changes = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        changes["boundary"] = ["replaced", f"{sum(1 for _ in _points(geometry))} points"]
        audit_record(user=None, action="update", obj=borough, changes=changes, source="cli")


def _points(geometry: dict):
    polygons = (
        [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    )
    for polygon in polygons:
        for ring in polygon:
            yield from ring
