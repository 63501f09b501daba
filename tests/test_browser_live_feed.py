"""The board's live feed (static/js/live.js) in a real browser, against a socket the test plays
the server of (Playwright's route_web_socket) and with the page's clock under the test's hand.

A desk the server cut off for not reading (close code 4408, decision 0037) must not come
straight back for the same backlog: it waits 5 s, then 10 s, then 20 s, and the banner says
why. A socket that says hello does not earn a fresh backoff; one that stays live 30 s does.
While the socket is down, the snapshot polls never overlap: on a link too slow to fetch a
snapshot in 5 s, the next poll waits for the last one to end. And desks that lose their
sockets in the same instant (a daphne restarting) come back spread out, not all at once.

The first three tests fix the jitter's random part at nothing, so the waits are the schedule's;
the last runs with the browser's own Math.random.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://beacon.test"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGE = """<!doctype html><meta charset="utf-8"><title>live feed</title>
<script type="module">
import { LiveFeed } from "/static/js/live.js";
window.states = [];
window.feed = new LiveFeed({
  wsPath: "/ws/board/", snapshotUrl: "/snapshot/", batch: true,
  onSnapshot: () => {}, onEvent: () => {},
  onState: (state, detail) => window.states.push([state, detail]),
  random: () => 0,
});
window.feed.start();
</script>"""

pytestmark = [pytest.mark.browser]


class Desk:
    """One page with live.js, its sockets answered by `answer` and its polls held open."""

    def __init__(self, browser, answer):
        self.page = browser.new_page()
        self.sockets: list = []
        self.polls: list = []  # routes of snapshot polls, never answered: a very slow link
        # The page's timers run only when the test moves its clock on.
        self.page.clock.install(time=0)
        self.page.clock.pause_at(1000)
        self.page.route(
            f"{BASE}/", lambda route: route.fulfill(body=PAGE, content_type="text/html")
        )
        self.page.route(
            f"{BASE}/static/js/live.js",
            lambda route: route.fulfill(
                path=str(ROOT / "static/js/live.js"), content_type="text/javascript"
            ),
        )
        self.page.route(f"{BASE}/snapshot/", lambda route: self.polls.append(route))

        def opened(ws):
            self.sockets.append(ws)
            ws.on_message(lambda message: answer(ws, json.loads(message)))
            ws.send(json.dumps({"type": "hello"}))

        self.page.route_web_socket("ws://beacon.test/ws/board/?batch=1", opened)
        self.page.goto(f"{BASE}/")

    def settle(self, sockets: int) -> None:
        """Wait (in real time: the socket's traffic is real) until `sockets` have been opened
        and the page has dealt with the last one's answer."""
        for _ in range(100):
            if len(self.sockets) >= sockets and self.page.evaluate("window.feed.ws === null"):
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"{len(self.sockets)} sockets opened, waited for {sockets}")

    def quiet(self) -> None:
        self.page.wait_for_timeout(300)  # real time for a socket that should not open

    def states(self) -> list:
        return self.page.evaluate("window.states")


def _cut_off(ws, message: dict) -> None:
    """The server of a desk that reads too slowly: hello, then 4408 at the first request."""
    if message["type"] in ("snapshot", "resync"):
        ws.close(code=4408, reason="not reading")


def test_a_desk_cut_off_for_not_reading_waits_longer_each_time(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            desk = Desk(browser, _cut_off)
            desk.settle(1)
            for n, wait_s in enumerate([5, 10, 20, 40, 60, 60], start=2):
                assert desk.states()[-1] == ["slow", f"reconnecting in {wait_s} s"]
                desk.page.clock.run_for(wait_s * 1000 - 200)
                desk.quiet()
                assert len(desk.sockets) == n - 1, f"came back before {wait_s} s"
                desk.page.clock.run_for(400)
                desk.settle(n)
        finally:
            browser.close()


def test_a_socket_earns_a_fresh_backoff_by_staying_live_not_by_saying_hello(chromium_path):
    from playwright.sync_api import sync_playwright

    live = {"on": False}

    def server(ws, message: dict) -> None:
        if message["type"] in ("snapshot", "resync") and live["on"]:
            ws.send(json.dumps({"type": "snapshot", "seq": 1, "data": {}}))
        elif message["type"] in ("snapshot", "resync"):
            ws.close(code=1011, reason="going away")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            desk = Desk(browser, server)
            desk.settle(1)
            # Refused after hello three times: 1 s, 2 s, 4 s (hello alone reset it before).
            for n, wait_s in enumerate([1, 2, 4], start=2):
                desk.page.clock.run_for(wait_s * 1000 - 100)
                desk.quiet()
                assert len(desk.sockets) == n - 1, f"came back before {wait_s} s"
                desk.page.clock.run_for(200)
                desk.settle(n)
            # Then a socket that goes live and stays so for 30 s, and is closed: 1 s again.
            live["on"] = True
            desk.page.clock.run_for(8000)
            for _ in range(100):
                if desk.states()[-1][0] == "live":
                    break
                desk.page.wait_for_timeout(50)
            assert desk.states()[-1][0] == "live"
            desk.page.clock.run_for(30_000)
            live["on"] = False
            desk.sockets[-1].close(code=1011, reason="restarting")
            for _ in range(100):
                if desk.states()[-1][0] == "down":
                    break
                desk.page.wait_for_timeout(50)
            desk.page.clock.run_for(900)
            desk.quiet()
            assert len(desk.sockets) == 5
            desk.page.clock.run_for(200)
            desk.settle(6)
        finally:
            browser.close()


def test_polls_of_the_snapshot_never_overlap(chromium_path):
    """Half a minute of the socket down, over a link that never finishes a snapshot: one poll
    is out, not one every 5 s."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            desk = Desk(browser, _cut_off)
            desk.settle(1)
            for _ in range(6):
                desk.page.clock.run_for(5000)
                desk.quiet()
            assert len(desk.polls) == 1
            # Once it ends, the next one follows POLL_MS later.
            desk.polls[0].fulfill(json={"seq": 0, "data": {}})
            desk.quiet()
            desk.page.clock.run_for(5100)
            desk.quiet()
            assert len(desk.polls) == 2
        finally:
            browser.close()


MANY = 12
PAGE_MANY = f"""<!doctype html><meta charset="utf-8"><title>live feeds</title>
<script type="module">
import {{ LiveFeed }} from "/static/js/live.js";
window.feeds = [];
window.connects = []; // the page's clock at each connect() after the first
for (let i = 0; i < {MANY}; i++) {{
  const feed = new LiveFeed({{
    wsPath: "/ws/board/", snapshotUrl: "/snapshot/", batch: true,
    onSnapshot: () => {{}}, onEvent: () => {{}}, onState: () => {{}},
  }});
  const connect = feed.connect.bind(feed);
  feed.connect = () => {{
    if (feed.started) window.connects.push(Date.now());
    feed.started = true;
    connect();
  }};
  window.feeds.push(feed);
  feed.start();
}}
</script>"""


def test_desks_cut_off_together_come_back_spread_out(chromium_path):
    """A daphne restarting closes all its desks' sockets at once (1011). Each waits its 1 s and
    a random part of up to half of it more: never sooner, and not all in the same instant."""
    from playwright.sync_api import sync_playwright

    def answer(ws, message: dict) -> None:
        if message["type"] in ("snapshot", "resync"):
            ws.send(json.dumps({"type": "snapshot", "seq": 1, "data": {}}))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page()
            sockets: list = []
            page.clock.install(time=0)
            page.clock.pause_at(1000)
            page.route(
                f"{BASE}/", lambda route: route.fulfill(body=PAGE_MANY, content_type="text/html")
            )
            page.route(
                f"{BASE}/static/js/live.js",
                lambda route: route.fulfill(
                    path=str(ROOT / "static/js/live.js"), content_type="text/javascript"
                ),
            )
            page.route(f"{BASE}/snapshot/", lambda route: route.fulfill(json={"seq": 0}))

            def opened(ws):
                sockets.append(ws)
                ws.on_message(lambda message: answer(ws, json.loads(message)))
                ws.send(json.dumps({"type": "hello"}))

            page.route_web_socket("ws://beacon.test/ws/board/?batch=1", opened)
            page.goto(f"{BASE}/")
            _wait_for(page, "window.feeds.every((f) => f.state === 'live')", "going live")

            # The page's clock stands still: every desk sees its close at the same instant.
            closed_at = page.evaluate("Date.now()")
            for ws in list(sockets):
                ws.close(code=1011, reason="restarting")
            _wait_for(page, "window.feeds.every((f) => f.ws === null)", "seeing the close")
            page.clock.run_for(1600)
            _wait_for(page, f"window.connects.length === {MANY}", "reconnecting")
            after = sorted(t - closed_at for t in page.evaluate("window.connects"))
        finally:
            browser.close()

    assert after[0] >= 1000, f"came back before 1 s: {after}"
    assert after[-1] <= 1500, f"waited more than 1.5 s: {after}"
    assert len({t // 100 for t in after}) >= 3, f"came back together: {after}"


def _wait_for(page, condition: str, what: str) -> None:
    """Wait in real time (the page's clock stands still) for the page to finish `what`."""
    for _ in range(100):
        if page.evaluate(condition):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the desks never finished {what}")
