"""The embedded default (no DATABASE_URL, no REDIS_URL) serves the control room under daphne."""

import os
import subprocess
import sys
import urllib.request

from tests.servers import ROOT, daphne_server


def test_embedded_default_serves_login_page(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(SQLITE_PATH=str(tmp_path / "smoke.sqlite3"), DJANGO_SETTINGS_MODULE="cad.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
        check=True,
    )  # fmt: skip
    with daphne_server(env, inherit=False) as base:
        with urllib.request.urlopen(f"{base}/accounts/login/", timeout=10) as response:
            page = response.read().decode()
            assert response.status == 200
        assert "Log in to Beacon" in page and "csrfmiddlewaretoken" in page
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/static/css/beacon.css", timeout=10) as response:
            assert response.status == 200
