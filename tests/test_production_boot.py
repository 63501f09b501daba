"""The production configuration boots and serves: gunicorn for REST, daphne for WebSockets,
DJANGO_ENV=production with a real secret, PostgreSQL and Redis, static files collected with the
manifest. Through them: the login page, a static file by its hashed name, the API schema, and a
WebSocket handshake on the board. No Docker: the same commands the image runs."""

import asyncio
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse

import pytest
import websockets
from cryptography.fernet import Fernet
from django.conf import settings

from tests.servers import (
    DAPHNE_OPTIONS,
    GUNICORN_OPTIONS,
    ROOT,
    free_port,
    server_process,
    venv_bin,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the servers read committed rows

PASSWORD = "a-Strong-pass-42"


class Http:
    """Plain HTTP to a server behind an imagined TLS proxy (X-Forwarded-Proto: https), keeping
    cookies by hand (they are Secure, which a cookie jar would not send over http)."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {
            "Host": f"127.0.0.1:{self.port}",
            "X-Forwarded-Proto": "https",
            **({"Cookie": self.cookie_header()} if self.cookies else {}),
            **(headers or {}),
        }
        conn.request(method, path, body, all_headers)
        response = conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return response, data

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


@pytest.fixture
def production(postgres, redis_url, make_user, tmp_path):
    """collectstatic (manifest) into a temporary STATIC_ROOT, then gunicorn and daphne."""
    make_user("despatcher", username="desk")
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    where = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_SSL_REDIRECT"}}
    env.update(
        DJANGO_ENV="production",
        DJANGO_SETTINGS_MODULE="cad.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        TOTP_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"postgres://{auth}@{where}",
        REDIS_URL=redis_url,
        CHANNEL_LAYER_PREFIX=f"boot-{secrets.token_hex(4)}",
        STATIC_ROOT=str(tmp_path / "static"),
        LOG_FORMAT="json",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert (tmp_path / "static" / "staticfiles.json").exists()
    api_port, web_port = free_port(), free_port()
    gunicorn = [venv_bin("gunicorn"), "-b", f"127.0.0.1:{api_port}", "--workers", "1",
                "--threads", "2", *GUNICORN_OPTIONS, "cad.wsgi:application"]  # fmt: skip
    daphne = [venv_bin("daphne"), "-b", "127.0.0.1", "-p", str(web_port), *DAPHNE_OPTIONS,
              "cad.asgi:application"]  # fmt: skip
    with (
        server_process(gunicorn, env, api_port, tmp_path / "gunicorn.log"),
        server_process(daphne, env, web_port, tmp_path / "daphne.log"),
    ):
        yield {"api": api_port, "web": web_port, "logs": tmp_path}


def _sign_in(client: Http) -> None:
    response, page = client.request("GET", "/accounts/login/")
    assert response.status == 200, page[:2000]
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found is not None, page[:2000]
    token = found.group(1).decode()
    body = urllib.parse.urlencode(
        {"username": "desk", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    origin = f"https://127.0.0.1:{client.port}"
    response, data = client.request(
        "POST", "/accounts/login/", body,
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin,
         "Referer": f"{origin}/accounts/login/"},
    )  # fmt: skip
    assert response.status == 302, data[:2000]
    assert "sessionid" in client.cookies


def test_production_configuration_serves_pages_static_api_and_sockets(production):
    api, web = Http(production["api"]), Http(production["web"])

    # The login page from both servers, its CSS by the manifest's hashed name.
    for client in (api, web):
        response, page = client.request("GET", "/accounts/login/")
        assert response.status == 200, page[:2000]
        assert b"Log in to Beacon" in page
        assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    css = re.search(rb'href="(/static/css/beacon\.[0-9a-f]{12}\.css)"', page)
    assert css, "the page does not link the hashed stylesheet"
    response, body = web.request("GET", css.group(1).decode())
    assert response.status == 200 and b"{" in body
    assert "immutable" in response.getheader("Cache-Control", "")
    # Plain HTTP (no proxy header) is sent to HTTPS; the anonymous health probe is not.
    plain = http.client.HTTPConnection("127.0.0.1", production["api"], timeout=30)
    plain.request("GET", "/accounts/login/", headers={"Host": "127.0.0.1"})
    redirect = plain.getresponse()
    redirect.read()
    assert redirect.status == 301
    assert redirect.getheader("Location") == "https://127.0.0.1/accounts/login/"
    plain.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
    health = plain.getresponse()
    assert health.status == 200 and json.loads(health.read()) == {"status": "ok"}
    # The same connection, idle for longer than gunicorn's default keep-alive (2 s), is still
    # served: a proxy reuses its upstream connections (tests/servers.py, GUNICORN_OPTIONS).
    time.sleep(3)
    plain.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
    again = plain.getresponse()
    assert again.status == 200 and json.loads(again.read()) == {"status": "ok"}

    # The API schema through gunicorn, signed in.
    _sign_in(api)
    response, schema = api.request("GET", "/api/schema/", headers={"Accept": "application/json"})
    assert response.status == 200, schema[:2000]
    assert b"/api/v1/incidents/" in schema and b"openapi" in schema

    # The board's WebSocket on daphne, with the session gunicorn gave.
    async def handshake():
        async with websockets.connect(
            f"ws://127.0.0.1:{production['web']}/ws/board/",
            additional_headers={"Cookie": api.cookie_header(), "Origin": "https://127.0.0.1"},
            open_timeout=30,
        ) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 30))

    hello = asyncio.run(handshake())
    assert hello["type"] == "hello" and isinstance(hello["seq"], int)

    # Logs are JSON lines, each with a request id.
    lines = [json.loads(x) for x in (production["logs"] / "gunicorn.log").read_text().splitlines()
             if x.startswith("{")]  # fmt: skip
    requests = [x for x in lines if x["logger"] == "beacon.request"]
    assert requests and all(x["request_id"] for x in requests)


def test_gunicorn_runs_with_the_same_options_everywhere():
    """The tests' and benches' gunicorn is production's: the compose file carries its options."""
    compose = (ROOT / "docker-compose.yml").read_text()
    api = re.search(r'command: \["gunicorn", (.*?)"cad\.wsgi:application"\]', compose, re.S)
    assert api is not None
    options = [a.strip().strip('"') for a in api.group(1).split(",") if a.strip()]
    assert options[-len(GUNICORN_OPTIONS) :] == GUNICORN_OPTIONS
