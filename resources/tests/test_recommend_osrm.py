"""The OSRM router against recorded table-service replies served over real HTTP.

The replies in fixtures/ follow the OSRM v5 HTTP API (`/table/v1/{profile}/...`, `code`,
`durations`, `distances`, `sources`, `destinations`; `null` where no route exists; 400 with
`InvalidQuery`/`NoSegment` for bad input). No OSRM server runs in CI; see docs/decisions/0005.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from resources.recommend.engine import recommend_incident
from resources.recommend.routers import (
    EstimateRouter,
    Origin,
    OsrmRouter,
    RouterError,
    default_router,
)
from tests.factories import make_incident, make_unit

FIXTURES = Path(__file__).parent / "fixtures"
INC = (51.545, -0.16)
# Positions of the recorded reply's sources, in the order the engine sends them (nearest first).
A, C, B = (51.550, -0.140), (51.530, -0.150), (51.545, -0.120)


class FakeOsrm:
    """A real HTTP server answering with one recorded reply, remembering what it was asked."""

    def __init__(self, fixture: str, *, status: int = 200, delay_s: float = 0.0):
        self.body = (FIXTURES / fixture).read_bytes()
        self.status, self.delay_s = status, delay_s
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                time.sleep(outer.delay_s)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def origins():
    return [Origin(lat, lon, 30.0, 45.0) for lat, lon in (A, C, B)]


def test_request_shape_and_parsed_reply():
    with FakeOsrm("osrm_table_ok.json") as osrm:
        legs = OsrmRouter(osrm.url).travel(origins(), *INC, blue_lights=False)
    assert osrm.requests == [
        "/table/v1/driving/-0.160000,51.545000;-0.140000,51.550000;-0.150000,51.530000;"
        "-0.120000,51.545000?sources=1;2;3&destinations=0&annotations=duration,distance"
    ]
    assert [leg.seconds if leg else None for leg in legs] == [412.3, 268.9, None]
    assert legs[0].road_m == 3120.5


def test_blue_light_factor_scales_osrm_durations(settings):
    settings.RECOMMEND_OSRM_BLUE_LIGHT_FACTOR = 0.8
    with FakeOsrm("osrm_table_ok.json") as osrm:
        legs = OsrmRouter(osrm.url).travel(origins(), *INC, blue_lights=True)
    assert legs[1].seconds == pytest.approx(268.9 * 0.8)


@pytest.mark.parametrize(
    ("fixture", "status"), [("osrm_table_invalid.json", 400), ("osrm_table_nosegment.json", 400)]
)
def test_error_replies_raise(fixture, status):
    with FakeOsrm(fixture, status=status) as osrm, pytest.raises(RouterError):
        OsrmRouter(osrm.url).travel(origins(), *INC, blue_lights=False)


def test_non_ok_code_with_200_and_wrong_shape_raise():
    router = OsrmRouter("http://osrm.invalid")
    with pytest.raises(RouterError):
        router.parse({"code": "NoTable"}, 3, blue_lights=False)
    with pytest.raises(RouterError):
        router.parse({"code": "Ok", "durations": [[1.0]]}, 3, blue_lights=False)


@pytest.fixture
def scene(geography, make_user):
    for callsign, (lat, lon) in (("A", A), ("C", C), ("B", B)):
        make_unit(geography["kentish"], callsign=callsign, lat=lat, lon=lon)
    return make_incident(make_user("despatcher"), lat=INC[0], lon=INC[1], grade="I")


def test_engine_ranks_by_osrm_road_times(scene, settings):
    with FakeOsrm("osrm_table_ok.json") as osrm:
        settings.RECOMMEND_ROUTER, settings.RECOMMEND_OSRM_URL = "osrm", osrm.url
        out = recommend_incident(scene)
    # C 269 s by road; B has no route (null) so it is estimated: 2.8 km × 1.4 at 45 km/h ≈ 310 s;
    # A, nearest in a straight line, is 412 s by road.
    assert [r.candidate.callsign for r in out.results] == ["C", "B", "A"]
    assert out.router == "osrm"
    assert out.results[0].reasons[0] == "4 min by road"
    assert out.results[1].reasons[0].endswith("(estimated)")
    assert out.results[2].reasons[0] == "7 min by road"


def test_osrm_down_or_slow_falls_back_to_straight_line(scene, settings):
    settings.RECOMMEND_ROUTER = "osrm"
    settings.RECOMMEND_OSRM_TIMEOUT_S = 0.3
    with FakeOsrm("osrm_table_ok.json", delay_s=1.0) as slow:
        settings.RECOMMEND_OSRM_URL = slow.url
        out = recommend_incident(scene)
    assert [r.candidate.callsign for r in out.results] == ["A", "C", "B"]
    assert out.router == "straight-line"
    assert out.warnings[0].startswith("osrm router failed")
    settings.RECOMMEND_OSRM_URL = slow.url  # now shut down: connection refused
    out = recommend_incident(scene)
    assert [r.candidate.callsign for r in out.results] == ["A", "C", "B"]
    assert out.router == "straight-line"


def test_default_router_follows_settings(settings):
    assert isinstance(default_router(), EstimateRouter)
    settings.RECOMMEND_ROUTER = "osrm"
    assert isinstance(default_router(), EstimateRouter)  # no URL: estimate, not a crash
    settings.RECOMMEND_OSRM_URL = "http://osrm.example:5000/"
    router = default_router()
    assert isinstance(router, OsrmRouter) and router.base_url == "http://osrm.example:5000"


def test_recorded_reply_is_valid_json_of_the_documented_shape():
    body = json.loads((FIXTURES / "osrm_table_ok.json").read_text())
    assert body["code"] == "Ok" and len(body["durations"]) == len(body["sources"]) == 3
