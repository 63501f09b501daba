"""A supervisor edits roster cells in a real browser and sees the rule's message inline."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cad.accounts import totp
from cad.accounts.roles import apply_role_permissions
from cad.accounts.totp_keys import secret_encrypt
from cad.models import AuditEvent, TOTPDevice
from duties.models import Officer, ShiftAssignment, Team

pytestmark = [pytest.mark.browser]

SECRET = totp.new_secret()


@pytest.fixture
def roster_world(transactional_db, geography, make_user):
    # An earlier transactional test's flush removes the role groups the migration made.
    apply_role_permissions()
    sgt = make_user("supervisor", bcu="CN", username="sgt")
    # Supervisors sign in with a second factor (cad/accounts/second_factor.py): an enrolled device.
    TOTPDevice.objects.create(
        user=sgt, secret_encrypted=secret_encrypt(SECRET), confirmed_at=timezone.now()
    )
    team = Team.objects.create(bcu=geography["CN"], name="Team 1")
    officer = Officer.objects.create(collar_number="101CN", first_name="Ada", last_name="Byron",
                                     bcu=geography["CN"], team=team)  # fmt: skip
    today = timezone.localdate()
    start = today + timedelta(days=35 - today.weekday())
    return {"officer": officer, "start": start}


def test_edit_cells_by_keyboard_and_override_a_rule(live_server, chromium_path, roster_world):
    from playwright.sync_api import expect, sync_playwright

    officer, start = roster_world["officer"], roster_world["start"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "sgt")
            page.fill("input[name=password]", "a-Strong-pass-42")
            page.click("button[type=submit]")
            page.fill("input[name=code]", totp.totp(SECRET))
            page.click("form[action='/accounts/2fa/'] button[type=submit]")
            page.wait_for_url(f"{live_server.url}/roster/")  # home sends supervisors there
            page.goto(f"{live_server.url}/roster/?from={start.isoformat()}")
            message = page.locator("#roster-message")
            row = page.locator(f'tr[data-officer="{officer.pk}"]')
            first = row.locator("td.c").nth(0)
            first.click()
            page.keyboard.press("l")
            expect(message).to_contain_text("Saved: Late")
            expect(first).to_have_text("L")
            # Arrow right to the next day; an early 9 hours after the late is refused inline.
            page.keyboard.press("ArrowRight")
            page.keyboard.press("e")
            expect(message).to_contain_text("only 9 h rest")
            second = row.locator("td.c").nth(1)
            expect(second).to_have_class("c k-none cur refused")
            expect(second).to_have_text("·")
            page.fill("#roster-reason", "Short of drivers for the march")
            page.click("#roster-override")
            expect(message).to_contain_text("Overridden: insufficient_rest")
            expect(second).to_have_text("E")
        finally:
            browser.close()
    # (The ORM is checked outside Playwright's event loop.)
    early = ShiftAssignment.objects.get(shift__kind="early", officer=officer)
    assert early.override_reason == "Short of drivers for the march"
    assert AuditEvent.objects.filter(action="override", username="sgt").count() == 1
