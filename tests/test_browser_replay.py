"""A supervisor replays the board in a real browser: a moment, steps, playback, the log."""

import time

import pytest
from django.utils import timezone

from cad.accounts import totp
from cad.accounts.roles import apply_role_permissions
from cad.accounts.totp_keys import secret_encrypt
from cad.live.replay import board_checkpoint_create
from cad.models import AuditEvent, TOTPDevice
from resources import despatch
from tests.factories import make_incident, make_unit

pytestmark = [pytest.mark.browser]

SECRET = totp.new_secret()


@pytest.fixture
def replay_world(transactional_db, geography, make_user):
    # An earlier transactional test's flush removes the role groups the migration made.
    apply_role_permissions()
    sup = make_user("supervisor", username="inspector")
    TOTPDevice.objects.create(
        user=sup, secret_encrypted=secret_encrypt(SECRET), confirmed_at=timezone.now()
    )
    handler = make_user("call_handler", username="ch")
    desk = make_user("despatcher", username="desk")
    unit = make_unit(geography["kentish"], callsign="CN11")
    board_checkpoint_create()
    first = make_incident(handler, where="camden", grade="I", address="1 Royal College St")
    time.sleep(0.05)
    between = timezone.now()
    time.sleep(0.05)
    second = make_incident(handler, where="camden", grade="S", address="9 Pratt Street")
    despatch.assignment_create(incident=first, unit=unit, by=desk, source="test")
    return {"first": first, "second": second, "between": between}


def test_replay_a_moment_step_and_play(live_server, chromium_path, replay_world):
    from playwright.sync_api import expect, sync_playwright

    first, second = replay_world["first"], replay_world["second"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "inspector")
            page.fill("input[name=password]", "a-Strong-pass-42")
            page.click("button[type=submit]")
            page.fill("input[name=code]", totp.totp(SECRET))
            page.click("form[action='/accounts/2fa/'] button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{live_server.url}/replay/")
            queue, units = page.locator("#replay-queue"), page.locator("#replay-units")
            # Now: both incidents, the unit on the first.
            expect(queue).to_contain_text(second.reference)
            expect(queue).to_contain_text(first.reference)
            expect(units.locator("tr", has_text="CN11").locator("td").nth(2)).to_have_text(
                str(first.pk)
            )
            # The map: both incidents and the unit (it has a position).
            expect(page.locator("#replay-map .rp-inc")).to_have_count(2)
            expect(page.locator("#replay-map .rp-unit")).to_have_text("CN11")
            # Who did what: the call handler's and the despatcher's changes.
            expect(page.locator("#replay-audit")).to_contain_text("desk")
            # Event by event back (the despatch message's state and the unit's status each
            # made one): within a few steps, the unit is not yet sent.
            moment = page.locator("#replay-moment")
            job = units.locator("tr", has_text="CN11").locator("td").nth(2)  # its incident
            for _ in range(6):
                before = moment.inner_text()
                page.click("#replay-back")
                expect(moment).not_to_have_text(before)
                if job.inner_text() == "":
                    break
            expect(job).to_have_text("")
            expect(moment).to_contain_text("after event #")
            # A moment between the two calls: only the first.
            page.fill("#replay-time", replay_world["between"].isoformat())
            page.click("#replay-go")
            expect(queue).not_to_contain_text(second.reference)
            expect(queue).to_contain_text(first.reference)
            # A typo is a message, not a broken page.
            page.fill("#replay-time", "half past two")
            page.click("#replay-go")
            expect(page.locator("#replay-error")).to_contain_text("t:")
            # Back to the moment between, then play at 60×: the second call arrives.
            page.fill("#replay-time", replay_world["between"].isoformat())
            page.click("#replay-go")
            expect(queue).not_to_contain_text(second.reference)
            page.select_option("#replay-speed", "60")
            page.click("#replay-play")
            expect(queue).to_contain_text(second.reference, timeout=10000)
            expect(page.locator("#replay-play")).to_have_text("Play", timeout=10000)
            # At the end: nothing after, so the step forward is off.
            expect(page.locator("#replay-next")).to_be_disabled()
        finally:
            browser.close()
    assert errors == []
    # Every moment looked at is on the audit trail.
    assert AuditEvent.objects.filter(object_type="cad.event", username="inspector").count() >= 4
