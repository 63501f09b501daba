"""A coarse grid over the earth for finding units near a point without indexing their position.

A unit's GPS fix changes every few seconds, and an index on `lat`/`lon` would make every one of
those updates write new index entries instead of a HOT update in place (decision 0002). Its
grid square changes only when it crosses into the next one, so `Unit.lat_cell`/`lon_cell`
(columns the database derives from `lat`/`lon`) are indexed instead, and a near-by query filters
on the squares covering its box before the exact box test.

A square is 1/CELLS_PER_DEGREE of a degree on each side: about 2.2 km north to south and 1.4 km
east to west in London, so a 4 km search box touches a few dozen squares.
"""

from math import floor

from django.db.models import F, IntegerField
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast

CELLS_PER_DEGREE = 50.0
# Added before scaling, so that every square's number is positive.
LAT_OFFSET = 90.0
LON_OFFSET = 180.0


def cell_of(column: str, offset: float) -> Cast:
    """The square's number along one axis: (degrees + offset) × CELLS_PER_DEGREE as an integer.

    The offset (LAT_OFFSET or LON_OFFSET) keeps the number positive. Databases differ
    in how the cast treats the fraction (PostgreSQL rounds, SQLite truncates); `cell_range`
    allows for either.
    """
    scaled: CombinedExpression = (F(column) + offset) * CELLS_PER_DEGREE
    return Cast(scaled, IntegerField())


def cell_range(low: float, high: float, offset: float) -> tuple[int, int]:
    """The lowest and highest square number any value in [low, high] can have on either database.

    A truncating cast gives floor(x) for positive x, a rounding one floor(x) or floor(x) + 1;
    both only ever rise with x, so every value in the range lies between these two.
    """
    return floor((low + offset) * CELLS_PER_DEGREE), floor((high + offset) * CELLS_PER_DEGREE) + 1
