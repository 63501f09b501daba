"""How a document reaches a partner's CAD: an HTTPS POST of the EIDO JSON, bearer token.

A 2xx answer is the partner's acknowledgement (its body may carry `{"ack": "<their ref>"}`).
No answer, a timeout or a 5xx is passing (`PartnerUnavailable`: the task retries); a 4xx is the
partner refusing the document (`PartnerRefused`: retrying would not help). Never touches the
database.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings

from cad.accounts.totp_keys import InvalidToken, secret_decrypt
from resources.partners.models import PartnerAgency


class PartnerUnavailable(Exception):
    """The partner cannot take the document now; try again later."""


class PartnerRefused(Exception):
    """The partner answered that it will not take this document."""


def partner_secret(partner: PartnerAgency) -> str:
    """The bearer token: decrypted from the row, or read from the named environment variable."""
    if partner.secret_encrypted:
        try:
            return secret_decrypt(partner.secret_encrypted)
        except InvalidToken as exc:
            raise PartnerRefused(
                "credentials cannot be decrypted with the configured keys"
            ) from exc
    if partner.secret_env:
        return os.environ.get(partner.secret_env, "")
    return ""


def post_document(partner: PartnerAgency, document: dict[str, Any]) -> str:
    """Send one document; return the partner's acknowledgement reference ('' if none given)."""
    if not partner.endpoint.startswith(("https://", "http://")):
        raise PartnerRefused("the partner has no http(s) endpoint configured")
    # Documents may carry callers' details: plain http only to this machine (the simulator).
    local = urllib.parse.urlsplit(partner.endpoint).hostname in ("127.0.0.1", "localhost", "::1")
    if partner.endpoint.startswith("http://") and not (local or settings.DEBUG):
        raise PartnerRefused("plain http is allowed only to this machine; use https")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token := partner_secret(partner):
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        partner.endpoint, data=json.dumps(document).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(  # noqa: S310  # nosec B310 (scheme checked above)
            request, timeout=settings.PARTNER_SEND_TIMEOUT_SECONDS
        ) as response:
            body = response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500:
            raise PartnerRefused(f"{exc.code} {exc.reason}"[:300]) from exc
        raise PartnerUnavailable(f"{exc.code} {exc.reason}"[:300]) from exc
    except (OSError, TimeoutError) as exc:  # URLError is an OSError
        raise PartnerUnavailable(f"{partner.endpoint}: {exc}"[:300]) from exc
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        answer = {}
    return str(answer.get("ack", ""))[:100] if isinstance(answer, dict) else ""
