"""The resilience snapshot opens in Chromium with the network off and shows the open incidents
(issue 17): what a desk works from when the server can't be reached."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from incidents.services import incident_close
from tests.factories import make_closing_code, make_incident

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [pytest.mark.browser]


@pytest.mark.django_db
def test_snapshot_opens_offline_and_shows_the_open_incidents(geography, cast, chromium_path,
                                                             tmp_path):  # fmt: skip
    from playwright.sync_api import expect, sync_playwright

    first = make_incident(cast.handler, summary="shop theft in progress")
    second = make_incident(cast.handler, where="lambeth", grade="I", summary="fight")
    make_closing_code("NFA")
    closed = make_incident(cast.handler, summary="already dealt with")
    incident_close(incident=closed, by=cast.despatcher_all, closing_code="NFA")
    out = StringIO()
    call_command("resilience_snapshot", "--dir", str(tmp_path), stdout=out)
    path = Path(out.getvalue().strip())

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            context = browser.new_context()
            context.set_offline(True)
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            table = page.locator("#incidents + table")
            expect(table).to_contain_text(first.reference)
            expect(table).to_contain_text(second.reference)
            expect(table).to_contain_text("shop theft in progress")
            expect(table).not_to_contain_text(closed.reference)
            expect(page.locator("h2#incidents")).to_have_text("Open incidents (2)")
        finally:
            browser.close()
    # The page asked for nothing but itself.
    assert requests == [path.as_uri()]
