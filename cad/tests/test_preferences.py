"""Per-user screen settings: shortcuts on/off and their keys, despatch confirmation, theme.
`GET/PUT /api/v1/me/preferences/`, the settings page, and every page reading them on load."""

import json

import pytest
from django.test import Client

from cad.accounts.models import UserPreferences
from cad.accounts.preferences import DEFAULT_KEYS
from cad.models import AuditEvent

URL = "/api/v1/me/preferences/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(make_user):
    return make_user("despatcher", username="dave")


@pytest.fixture
def client(dave):
    c = Client()
    c.force_login(dave)
    return c


def put(client, body):
    return client.put(URL, json.dumps(body), content_type="application/json")


def test_defaults_before_anything_is_set(client):
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "shortcuts": True,
        "confirm_despatch": True,
        "theme": "standard",
        "keys": DEFAULT_KEYS,
        "updated_at": None,
    }
    assert not UserPreferences.objects.exists()


def test_anonymous_is_refused():
    assert Client().get(URL).status_code in (401, 403)
    assert Client().put(URL, "{}", content_type="application/json").status_code in (401, 403)


def test_put_stores_audits_and_answers_the_new_settings(client, dave):
    settings = {"shortcuts": False, "confirm_despatch": False, "theme": "high_contrast"}
    response = put(client, {**settings, "keys": {"next": "n", "previous": "p"}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["shortcuts"], body["confirm_despatch"], body["theme"]) == (
        False, False, "high_contrast",
    )  # fmt: skip
    assert body["keys"] == {**DEFAULT_KEYS, "next": "n", "previous": "p"}
    row = UserPreferences.objects.get(user=dave)
    assert row.keys == {"next": "n", "previous": "p"}  # only what moved is stored
    audit = AuditEvent.objects.get(object_type="cad.userpreferences")
    assert (audit.user, audit.action) == (dave, "create")
    assert audit.changes == {
        "shortcuts": [True, False],
        "confirm_despatch": [True, False],
        "theme": ["standard", "high_contrast"],
        "keys": {"next": ["j", "n"], "previous": ["k", "p"]},
    }
    assert client.get(URL).json() == body


def test_put_replaces_what_it_leaves_out_goes_back_to_default(client, dave):
    put(client, {"shortcuts": False, "theme": "high_contrast", "keys": {"assign": "x"}})
    response = put(client, {"confirm_despatch": False})
    assert response.json()["shortcuts"] is True
    assert response.json()["theme"] == "standard"
    assert response.json()["keys"]["assign"] == "a"
    assert UserPreferences.objects.get(user=dave).keys == {}


def test_the_same_settings_again_write_no_audit_row(client):
    put(client, {"theme": "high_contrast"})
    put(client, {"theme": "high_contrast"})
    assert AuditEvent.objects.filter(object_type="cad.userpreferences").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"shortcuts": "false"}, "shortcuts"),
        ({"shortcuts": 0}, "shortcuts"),
        ({"confirm_despatch": None}, "confirm_despatch"),
        ({"theme": "dark"}, "theme"),
        ({"theme": 1}, "theme"),
        ({"keys": "j"}, "keys"),
        ({"keys": ["j"]}, "keys"),
    ],
)
def test_wrong_types_are_field_errors(client, body, field):
    response = put(client, body)
    assert response.status_code == 400
    assert field in response.json()
    assert not UserPreferences.objects.exists()


@pytest.mark.parametrize(
    ("keys", "action", "says"),
    [
        ({"next": "jj"}, "next", "one character"),
        ({"next": ""}, "next", "one character"),
        ({"next": " "}, "next", "visible character"),
        ({"next": "\u0007"}, "next", "visible character"),
        ({"next": 7}, "next", "one character"),
        ({"jump": "x"}, "jump", "Unknown action"),
        ({"next": "k"}, "next", "already the key for previous"),
        ({"next": "x", "previous": "x"}, "previous", "already the key for next"),
    ],
)
def test_bad_key_maps_are_refused_per_action(client, keys, action, says):
    response = put(client, {"keys": keys})
    assert response.status_code == 400
    errors = response.json()["keys"]
    assert says in " ".join(errors[action]), errors
    assert not UserPreferences.objects.exists()


def test_swapping_two_keys_in_one_request_is_allowed(client):
    response = put(client, {"keys": {"next": "k", "previous": "j"}})
    assert response.status_code == 200, response.json()
    assert response.json()["keys"]["next"] == "k"


def test_a_non_object_body_is_a_400(client):
    response = client.put(URL, "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_each_user_has_their_own(client, make_user):
    put(client, {"theme": "high_contrast"})
    other = Client()
    other.force_login(make_user("call_handler", username="carol"))
    assert other.get(URL).json()["theme"] == "standard"


# --- pages read them on load ----------------------------------------------------------------


def test_every_page_carries_the_theme_and_the_settings(client, dave):
    put(client, {"theme": "high_contrast", "shortcuts": False, "keys": {"assign": "x"}})
    html = client.get("/calls/").content.decode()
    root = html[html.index("<html ") : html.index(">", html.index("<html "))]
    assert 'data-theme="high_contrast"' in root  # on the root element, for every stylesheet
    start = html.index('<script id="user-prefs" type="application/json">') + 48
    prefs = json.loads(html[start : html.index("</script>", start)])
    assert prefs["shortcuts"] is False and prefs["keys"]["assign"] == "x"


def test_a_new_user_gets_the_standard_theme(client):
    html = client.get("/calls/").content.decode()
    assert 'data-theme="standard"' in html


# --- the settings page (no JavaScript needed) ------------------------------------------------


def _form(**changes) -> dict:
    data = {f"key-{a}": k for a, k in DEFAULT_KEYS.items()}
    data.update({"theme": "standard", "confirm_despatch": "on", "shortcuts": "on"})
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_settings_page_saves(client, dave):
    page = client.get("/accounts/preferences/")
    assert page.status_code == 200
    assert 'name="key-next" value="j"' in page.content.decode()
    response = client.post("/accounts/preferences/", _form(shortcuts=None, theme="high_contrast",
                                                           **{"key-next": "n"}))  # fmt: skip
    assert response.status_code == 302
    row = UserPreferences.objects.get(user=dave)
    assert (row.shortcuts, row.confirm_despatch, row.theme, row.keys) == (
        False, True, "high_contrast", {"next": "n"},
    )  # fmt: skip
    assert AuditEvent.objects.filter(object_type="cad.userpreferences", user=dave).exists()


def test_settings_page_shows_errors_by_the_field_and_saves_nothing(client):
    response = client.post("/accounts/preferences/", _form(**{"key-next": "k"}))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="key-next" name="key-next" value="k"' in html
    assert 'aria-invalid="true" aria-describedby="error-next"' in html
    assert "already the key for previous" in html
    assert not UserPreferences.objects.exists()


def test_settings_page_needs_a_sign_in():
    response = Client().get("/accounts/preferences/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
