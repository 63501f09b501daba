"""Request bodies the JSON decoder cannot take are a 400 with DRF's parse-error shape, never a
500, on the API at large and on the token endpoint (which names its own parsers)."""

import pytest
from rest_framework.test import APIClient

DEEP = "[" * 50_000  # far past the decoder's recursion limit


@pytest.fixture
def handler_client(cast):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(cast.handler)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, '{"a": ' * 5_000, "[1, 2"])
def test_a_body_nested_too_deep_or_cut_short_is_a_parse_error(handler_client, body):
    response = handler_client.post("/api/v1/incidents/", data=body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["detail"].startswith("JSON parse error")


@pytest.mark.django_db
def test_the_token_endpoint_refuses_deep_json_the_same_way():
    client = APIClient(raise_request_exception=False)
    response = client.post("/api/v1/auth/token/", data=DEEP, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["detail"].startswith("JSON parse error")
