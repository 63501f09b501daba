"""Login everywhere, and each role lands on its own screen."""

import pytest
from django.urls import reverse

from cad.accounts.roles import ROLE_HOME


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/calls/", "/board/", "/roster/", "/my-shifts/"])
def test_pages_need_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/bcus/", "/api/schema/"])
def test_api_refuses_anonymous_without_redirect(client, path):
    assert client.get(path).status_code in (401, 403)


@pytest.mark.django_db
def test_login_page_is_public(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLE_HOME))
def test_each_role_lands_on_its_screen(client, make_user, role):
    client.force_login(make_user(role))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse(ROLE_HOME[role])


@pytest.mark.django_db
def test_login_form_logs_in_and_routes(client, make_user):
    make_user("call_handler", username="carol")
    response = client.post(
        "/accounts/login/", {"username": "carol", "password": "a-Strong-pass-42"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse(ROLE_HOME["call_handler"])


@pytest.mark.django_db
def test_token_auth(client, make_user, geography):
    make_user("despatcher", username="dave")
    token = client.post(
        "/api/v1/auth/token/",
        {"username": "dave", "password": "a-Strong-pass-42"},
        content_type="application/json",
    ).json()["token"]
    response = client.get("/api/v1/bcus/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert {"code": "CN", "name": "Central North"} in response.json()


@pytest.mark.django_db
def test_schema_and_docs_served(client, make_user):
    client.force_login(make_user("despatcher"))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/bcus/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
