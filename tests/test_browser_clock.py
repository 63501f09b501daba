"""Times on the force's clock in a real browser (static/js/clock.js), whatever zone the machine
showing them is set to: a desk on a machine left on UTC, or a phone on another zone, must show a
summer incident in BST as London does."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
# 11:30 UTC: 12:30 BST on 1 July; 11:30 GMT on 1 December; 00:30 BST on 2 July for 23:30 UTC.
FORMATTED = """async () => {
  const clock = await import("/static/js/clock.js");
  return {
    zone: document.documentElement.dataset.timeZone,
    summer: clock.clockTime("2026-07-01T11:30:00Z"),
    winter: clock.hoursMinutes("2026-12-01T11:30:00Z"),
    lateDay: clock.day("2026-07-01T23:30:00Z"),
    named: clock.dayAndTime("2026-07-01T11:30:05Z", { zoneName: true }),
    plain: clock.dayAndTime("2026-12-01T11:30:05Z"),
    none: clock.clockTime(null),
  };
}"""


@pytest.mark.parametrize("browser_zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_times_are_shown_on_londons_clock(live_server, chromium_path, browser_zone):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_context(timezone_id=browser_zone).new_page()
            page.goto(f"{live_server.url}/accounts/login/")  # any page on base.html
            shown = page.evaluate(FORMATTED)
        finally:
            browser.close()
    assert shown == {
        "zone": "Europe/London",
        "summer": "12:30:00",
        "winter": "11:30",
        "lateDay": "02/07/2026",
        "named": "01/07/2026, 12:30:05 BST",
        "plain": "01/12/2026, 11:30:05",
        "none": "",
    }
