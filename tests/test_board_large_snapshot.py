"""An all-London snapshot larger than 1 MiB reaches the desk through daphne as it is run.

autobahn, under daphne, refuses to *send* a WebSocket message larger than
`--websocket-max-message-size` (1 MiB by default). At 5,000 units the all-London snapshot is
about 1.6 MB: in the soak the send raised PayloadExceededError, the desk got nothing, asked
again, and looped. daphne now runs with 8 MiB (tests/servers.py DAPHNE_OPTIONS, the Makefile
and docker-compose.yml).
"""

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from websockets.sync.client import connect

from tests.factories import make_units_in_a_row
from tests.servers import DAPHNE_OPTIONS, daphne_server, subprocess_database_url

ROOT = Path(__file__).resolve().parent.parent
UNITS = 4_000

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_snapshot_over_one_mebibyte_reaches_an_all_london_desk(postgres, geography, make_user):
    make_units_in_a_row(geography["kentish"], UNITS, prefix="BIG", issi_digit="8")
    desk = make_user("despatcher", username="wide_desk")
    client = Client()
    client.force_login(desk)
    cookie = client.cookies["sessionid"].value
    env = {"DATABASE_URL": subprocess_database_url(), "REDIS_URL": "", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "cad.settings"}  # fmt: skip
    with daphne_server(env) as base:
        origin = base
        url = base.replace("http://", "ws://") + "/ws/board/"
        with connect(url, additional_headers={"Cookie": f"sessionid={cookie}", "Origin": origin},
                     max_size=2**24, open_timeout=30) as ws:  # fmt: skip
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send(json.dumps({"type": "snapshot"}))
            raw = ws.recv(timeout=60)
    assert len(raw) > 2**20
    snapshot = json.loads(raw)
    assert snapshot["type"] == "snapshot"
    callsigns = {unit["callsign"] for unit in snapshot["data"]["units"]}
    assert {f"BIG{i:04d}" for i in range(UNITS)} <= callsigns


def test_daphne_runs_with_the_same_options_everywhere():
    """The tests' daphne is production's: the Makefile and compose file carry its options."""
    makefile = (ROOT / "Makefile").read_text()
    serve = re.search(r"\$\(VENV\)/bin/daphne (.*?)cad\.asgi", makefile, re.S)
    assert serve is not None
    assert serve.group(1).replace("\\\n", " ").split()[4:] == DAPHNE_OPTIONS
    compose = (ROOT / "docker-compose.yml").read_text()
    web = re.search(r'command: \["daphne", (.*?)"cad\.asgi:application"\]', compose, re.S)
    assert web is not None
    assert [a.strip().strip('"') for a in web.group(1).split(",") if a.strip()][4:] == (
        DAPHNE_OPTIONS
    )
