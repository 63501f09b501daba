"""A partner agency's CAD, simulated (`manage.py partner_simulator`), for the demo and tests.

It listens for our EIDO documents over HTTP (POST any path), checks each against the published
schema, and acknowledges it (`200 {"ack": "<its ref>"}`; an invalid document gets 400 with the
faults). The first time it sees an incident it answers back, after `reply_delay` seconds, with
an update of its own to Beacon's `POST /api/v1/eido/inbound/` (token auth as the partner's
account): a note that it is attending. It never touches the database.

It signs in as another CAD would: with a token it was given (`token`), or with the partner
account's username and password at `POST /api/v1/auth/token/`, the first time it needs one and
again when Beacon answers 401 (tokens expire). That is what lets `make run` start it beside
the demo, whose partner accounts `seed_demo` makes with the demo password.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any

from resources.partners.eido_schema import eido_errors

logger = logging.getLogger(__name__)


@dataclass
class PartnerConfig:
    agency_id: str = "las.sim.example"
    name: str = "London Ambulance Service (simulated)"
    beacon_url: str = "http://127.0.0.1:8000"
    token: str = ""
    username: str = ""  # without a token: sign in as this partner account …
    password: str = ""  # … with this password
    agency_type: str = "ems"  # IANA urn:emergency:service:responder: ems, fire, police
    inbound_token: str = ""  # what Beacon must send as its bearer token ('' = anything)
    reply_delay: float = 5.0
    max_bytes: int = 1024 * 1024


@dataclass
class PartnerState:
    seen: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str = ""  # the token it signed in for, when it was not given one
    refs: Any = field(default_factory=lambda: count(1))


def update_for(document: dict[str, Any], config: PartnerConfig, *, note: str) -> dict[str, Any]:
    """The partner's update about an incident it received: the same incident id, its own
    agency, one new note (html-escaped text), nothing personal."""
    now = datetime.now(UTC).isoformat()
    incident = document["incidentComponent"]
    agency = {"$ref": config.agency_id}
    note_id = f"urn:emergency:uid:noteid:{int(time.time() * 1000)}:{config.agency_id}"
    location = (document.get("locationComponent") or [{}])[0]
    update: dict[str, Any] = {
        "$id": incident["$id"], "lastUpdateTimeStamp": now, "updatedByAgencyReference": agency,
        "eidoVersion": "1.0",
        "issuingElementIdentification": f"cad.{config.agency_id}",
        "incidentComponent": {
            "$id": incident["$id"], "lastUpdateTimeStamp": now, "updatedByAgencyReference": agency,
            "incidentTypeCommonRegistryText": incident["incidentTypeCommonRegistryText"],
            "incidentTypeInternalCode": incident.get("incidentTypeInternalCode", ""),
            "incidentCommonPriorityNumber": incident.get("incidentCommonPriorityNumber", 2),
            "locationReference": incident.get("locationReference", []),
            "notesReference": [{"$ref": note_id}],
        },
        "agencyComponent": [{
            "$id": config.agency_id, "lastUpdateTimeStamp": now, "updatedByAgencyReference": agency,
            "agencyRoleDescriptionRegistryText": ["Assisting"],
            "agencyType": [config.agency_type],
        }],
        "notesComponent": [{
            "$id": note_id, "lastUpdateTimeStamp": now, "updatedByAgencyReference": agency,
            "notesActionComments": note,
        }],
    }  # fmt: skip
    if location:
        update["locationComponent"] = [{**location, "updatedByAgencyReference": agency}]
    return update


def _post_json(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 (the operator's own Beacon URL)
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            return response.status, response.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096).decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def sign_in(config: PartnerConfig) -> str:
    """A fresh API token for the partner's account ('' if Beacon refused or is not there)."""
    status, body = _post_json(
        config.beacon_url.rstrip("/") + "/api/v1/auth/token/",
        {"username": config.username, "password": config.password}, {},
    )  # fmt: skip
    if status != 200:
        logger.warning("partner simulator: sign-in as %s refused: %s %s", config.username,
                       status, body[:200])  # fmt: skip
        return ""
    try:
        return str(json.loads(body)["token"])
    except (ValueError, KeyError, TypeError):
        return ""


def post_inbound(document: dict[str, Any], config: PartnerConfig,
                 state: PartnerState | None = None) -> tuple[int, str]:  # fmt: skip
    """Send an update to Beacon; (status, body). Signs in first if it has no token yet, and
    once more if Beacon says the token it has is no longer good (401)."""
    url = config.beacon_url.rstrip("/") + "/api/v1/eido/inbound/"
    state = state or PartnerState()
    can_sign_in = not config.token and bool(config.username)
    if can_sign_in and not state.token:
        state.token = sign_in(config)
    token = config.token or state.token
    status, body = _post_json(url, document, {"Authorization": f"Token {token}"})
    if status == 401 and can_sign_in:
        state.token = sign_in(config)
        status, body = _post_json(url, document, {"Authorization": f"Token {state.token}"})
    return status, body


def make_handler(config: PartnerConfig, state: PartnerState, *, reply: bool = True):
    class Handler(BaseHTTPRequestHandler):
        server_version = "PartnerSimulator/1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("partner simulator: " + format, *args)

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if config.inbound_token and self.headers.get("Authorization") != (
                f"Bearer {config.inbound_token}"
            ):
                self._answer(401, {"detail": "bad token"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > config.max_bytes:
                self._answer(400, {"detail": "no body, or too large"})
                return
            try:
                document = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400, {"detail": "not JSON"})
                return
            if problems := eido_errors(document):
                self._answer(400, problems)
                return
            uid = document["incidentComponent"]["$id"]
            with state.lock:
                ack = f"SIM-{next(state.refs)}"
                state.received.append(document)
                first = uid not in state.seen
                state.seen.add(uid)
            self._answer(200, {"ack": ack})
            if first and reply:
                threading.Thread(target=self._reply, args=(document,), daemon=True).start()

        def _reply(self, document: dict[str, Any]) -> None:
            time.sleep(config.reply_delay)
            update = update_for(document, config,
                                note="Resource assigned, attending.")  # fmt: skip
            status, body = post_inbound(update, config, state)
            with state.lock:
                state.sent.append({"status": status, "body": body[:200]})
            logger.info("partner simulator: update for %s → %s %s", document["$id"], status,
                        body[:200])  # fmt: skip

    return Handler


def serve(host: str, port: int, config: PartnerConfig, state: PartnerState | None = None,
          *, reply: bool = True) -> ThreadingHTTPServer:  # fmt: skip
    """A started-but-not-running server (call serve_forever, or run it in a thread)."""
    return ThreadingHTTPServer((host, port), make_handler(config, state or PartnerState(),
                                                          reply=reply))  # fmt: skip
