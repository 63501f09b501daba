"""The pages of issue 17: an operation's page and printable briefing, the fallback log sheet,
and the board's operation filter and major incident banner configuration."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents.operations.services import operation_create
from resources.ringfence import ring_fence_add
from tests.factories import make_unit


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def op(geography, cast):
    now = timezone.now()
    return operation_create(
        by=cast.supervisor_cn, name="New Year's Eve", bcu_code="CN", lat=51.545, lon=-0.16,
        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=6),
        commander="Ch Supt Gold", briefing="Fireworks at midnight.\nBridges closed from 20:00.",
    )  # fmt: skip


def test_operation_page_and_printable_briefing(op, cast):
    page = _client(cast.handler).get(f"/operations/{op.pk}/")
    assert page.status_code == 200
    assert b"New Year&#x27;s Eve" in page.content and b"Ch Supt Gold" in page.content
    briefing = _client(cast.despatcher_cn).get(f"/operations/{op.pk}/briefing/")
    assert briefing.status_code == 200
    text = briefing.content.decode()
    assert "Bridges closed from 20:00." in text and "data-print" in text
    assert "css/operations.css" in text
    listed = _client(cast.supervisor_cn).get("/operations/")
    assert f"/operations/{op.pk}/".encode() in listed.content


def test_pages_need_a_control_room_role(op, cast):
    for path in (f"/operations/{op.pk}/", f"/operations/{op.pk}/briefing/", "/fallback-sheet/"):
        assert _client(cast.outsider).get(path).status_code == 403
        assert Client().get(path).status_code == 302


def test_fallback_sheet_has_the_import_columns(cast, geography):
    text = _client(cast.handler).get("/fallback-sheet/").content.decode()
    for heading in ("Serial", "Received", "Location", "Type", "Grade", "Result", "Closed"):
        assert f">{heading}" in text
    assert len(re.findall(r"<tr><td>\d+</td>", text)) == 18


def test_board_of_one_operation_carries_its_units(op, cast, geography):
    unit = make_unit(geography["kentish"], callsign="CN33")
    ring_fence_add(operation=op, unit=unit, by=cast.supervisor_cn)
    page = _client(cast.despatcher_cn).get(f"/board/?operation={op.pk}").content.decode()
    config = json.loads(re.search(r'id="board-config"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert config["operation"] == {"id": op.pk, "name": "New Year's Eve", "units": ["CN33"]}
    plain = _client(cast.despatcher_cn).get("/board/?operation=nonsense").content.decode()
    assert '"operation": null' in plain
    assert 'id="major-banner"' in plain
