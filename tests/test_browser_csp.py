"""Every page works under the Content-Security-Policy in a real browser (Chromium).

The policy (cad/web/csp.py) allows no inline script, handler attribute or style attribute. A page
that still relies on one shows a `securitypolicyviolation` event and a console error; this test
visits the main pages, the Django admin and the API docs as suitable users and requires none.
The board must also reach "live", which proves `connect-src 'self'` admits its same-origin
WebSocket. daphne serves HTTP and WebSockets against the test database (PostgreSQL).
"""

import re

import pytest

from cad.accounts.totp import totp
from incidents.models import IncidentType
from tests.factories import make_unit
from tests.servers import daphne_server, subprocess_database_url

PASSWORD = "a-Strong-pass-42"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
# Records violations from the first script on, before any page script could cause one.
WATCH_VIOLATIONS = """
window.__csp = [];
window.print = () => { window.__printed = true; };  // no print dialog in a headless test
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
                    `at ${e.sourceFile}:${e.lineNumber}`);
});
"""

# What the policy refuses in served HTML, even where the browser would only complain on use
# (an inline handler is compiled, and reported, when its event first fires). json_script data
# blocks are not scripts and are allowed.
INLINE = re.compile(
    r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>|<style\b|\son[a-z]+=|\sstyle="
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(postgres, chromium_path, geography, make_user):
    make_user("supervisor", username="sup")
    make_user("admin", username="adm")
    IncidentType.objects.create(code="ASB1", name="Rowdy behaviour", category="asb",
                                default_grade="I")  # fmt: skip
    make_unit(geography["kentish"], callsign="CN01")
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": "",
        # A tile host that is not this origin, so img-src must name it; nothing listens there.
        "MAP_TILE_URL": "http://127.0.0.2:9/{z}/{x}/{y}.png",
        "LOG_LEVEL": "WARNING",
    }
    with daphne_server(env) as base:
        yield base


def _sign_in(page, base: str, username: str) -> list[str]:
    """Password, then (supervisors and admins) enrol the second factor as a person would.

    Returns what the enrolment pages (the QR code's inline SVG, the recovery codes) did against
    the policy: they are seen only here.
    """
    problems = []
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "/accounts/2fa/enrol/" in page.url:
        page.locator(".qr svg").wait_for()
        problems += [f"enrol: {m}" for m in INLINE.findall(page.content())]
        problems += [f"enrol: {v}" for v in page.evaluate("window.__csp")]
        secret = page.locator("#totp-secret").get_attribute("data-secret")
        page.fill("input[name=code]", totp(secret))
        page.click("form[action$='/enrol/'] button[type=submit]")
        page.wait_for_load_state("networkidle")
        problems += [f"recovery codes: {m}" for m in INLINE.findall(page.content())]
        problems += [f"recovery codes: {v}" for v in page.evaluate("window.__csp")]
        page.click("#recovery-continue")  # past the recovery codes, shown once
        page.wait_for_load_state("networkidle")
    assert "/accounts/" not in page.url, f"{username} not signed in: {page.url}"
    return problems


def _console_watcher(page, problems: list[str]):
    def watch(message):
        if "Content Security Policy" in message.text:
            problems.append(f"{page.url}: {message.text}")

    return watch


PAGES = {
    "sup": ["/calls/", "/board/", "/roster/", "/roster/print/", "/audit/", "/api/docs/"],
    "adm": ["/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/api/docs/"],
}
PAGES["sup"].append("/replay/")  # issue 20: the replay page's module, slider and map


def test_pages_load_without_policy_violations(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    headers_seen: dict[str, str | None] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            for username, paths in PAGES.items():
                context = browser.new_context()
                context.add_init_script(WATCH_VIOLATIONS)
                page = context.new_page()
                page.on("console", _console_watcher(page, problems))
                problems += _sign_in(page, server, username)
                for path in ["/accounts/login/", *paths]:
                    response = page.goto(f"{server}{path}")
                    assert response.status == 200, f"{path}: {response.status}"
                    headers_seen[path] = response.headers.get("content-security-policy")
                    problems += [f"{path}: {m}" for m in INLINE.findall(response.text())]
                    page.wait_for_load_state("networkidle")
                    if path == "/board/":
                        expect(page.locator("body")).to_have_attribute("data-live", "live")
                    if path == "/roster/print/":
                        # The Print button works without its old inline onclick.
                        page.click("button[data-print]")
                        assert page.evaluate("window.__printed === true")
                    if path == "/api/docs/":
                        # Swagger UI rendered the schema: its script ran and fetched it.
                        expect(page.locator(".opblock").first).to_be_visible()
                    problems += [f"{path}: {v}" for v in page.evaluate("window.__csp")]
                context.close()
        finally:
            browser.close()

    assert not problems, "\n".join(problems)
    missing = [path for path, policy in headers_seen.items() if not policy]
    assert not missing, f"no Content-Security-Policy header on {missing}"
    assert all("script-src 'self'" in policy for policy in headers_seen.values())
