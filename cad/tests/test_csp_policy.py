"""The Content-Security-Policy (cad/web/csp.py): what it allows, and that every response has it."""

import pytest

from cad.web.csp import build_policy, tile_source


@pytest.mark.parametrize(
    ("tile_url", "source"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8080"),
        ("/tiles/{z}/{x}/{y}.png", None),  # same origin: 'self' covers it
        ("", None),  # no tiles at all
        ("javascript:alert(1)//{z}", None),
    ],
)
def test_tile_source(tile_url, source):
    assert tile_source(tile_url) == source


def test_policy_has_no_unsafe_sources():
    policy = build_policy(tile_url="https://tile.example.org/{z}/{x}/{y}.png")
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data: https://tile.example.org"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in policy


def test_every_response_carries_the_policy(client, db):
    # Development profile (these tests' settings): a page, a redirect and an API error alike.
    for path in ["/accounts/login/", "/calls/", "/api/v1/incidents/"]:
        response = client.get(path)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path
