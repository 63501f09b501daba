"""Idle expiry: 30 minutes without user activity ends the session; live-board traffic is not
activity; the page is warned first (static/js/idle.js asks /accounts/idle/)."""

import time

import pytest

from cad.accounts.sessions import LAST_ACTIVITY_KEY
from cad.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(client, make_user, geography):
    user = make_user("despatcher", username="dave")
    client.force_login(user)
    return user


def set_last_activity(client, seconds_ago: float) -> None:
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - seconds_ago
    session.save()


def last_activity(client) -> float:
    return client.session.get(LAST_ACTIVITY_KEY)


def test_the_limit_is_thirty_minutes_with_five_minutes_warning(settings):
    assert settings.SESSION_IDLE_SECONDS == 1800
    assert settings.SESSION_IDLE_WARNING_SECONDS == 300


def test_an_idle_session_is_signed_out_on_its_next_request(client, desk):
    set_last_activity(client, 1801)
    response = client.get("/board/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/board/")
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(user=desk, action="login", changes__outcome="idle_timeout")
    assert "without activity" in client.get(response["Location"]).content.decode()


def test_a_session_inside_the_limit_carries_on(client, desk):
    set_last_activity(client, 1700)
    assert client.get("/board/").status_code == 200
    assert time.time() - last_activity(client) < 60  # navigation is activity


def test_background_polls_do_not_count_as_activity(client, desk):
    set_last_activity(client, 1000)
    before = last_activity(client)
    assert client.get("/board/snapshot/").status_code == 200
    assert client.get("/api/v1/bcus/", HTTP_X_BEACON_BACKGROUND="1").status_code == 200
    assert client.get("/accounts/idle/", HTTP_X_BEACON_BACKGROUND="1").status_code == 200
    assert last_activity(client) == before
    # ...so the board left open still expires.
    set_last_activity(client, 1801)
    assert client.get("/board/snapshot/").status_code == 302


def test_an_idle_api_session_gets_no_data(client, desk):
    set_last_activity(client, 1801)
    assert client.get("/api/v1/bcus/").status_code in (401, 403)


def test_idle_status_reports_time_left_and_stay_signed_in_resets_it(client, desk):
    set_last_activity(client, 1560)  # 4 minutes left: inside the warning
    status = client.get("/accounts/idle/", HTTP_X_BEACON_BACKGROUND="1").json()
    assert status["signed_in"] and 200 < status["remaining"] <= 240
    assert status["warning"] == 300
    stay = client.post("/accounts/idle/").json()
    assert stay["remaining"] > 1790


def test_idle_status_when_signed_out(client, db):
    assert client.get("/accounts/idle/").json() == {
        "remaining": 0, "warning": 300, "signed_in": False,
    }  # fmt: skip


def test_pages_load_the_idle_module_without_inline_script(client, desk):
    html = client.get("/board/").content.decode()
    assert 'id="idle-warning"' in html and 'data-status-url="/accounts/idle/"' in html
    assert "js/idle.js" in html
