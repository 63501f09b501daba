"""Plane geography without a GIS extension: distances, point-in-polygon, and which borough and
BCU a point falls in (decision 0002)."""
