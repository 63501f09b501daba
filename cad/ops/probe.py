"""Container health probe for the HTTP processes: `python -P /app/cad/ops/probe.py http 8000`.

Asks the process's own `/healthz` (anonymous, minimal) and exits 0 when it answers 200. It
imports only the standard library, so a probe every 30 s costs a fraction of a second, as long
as it is run as a file: `python -m cad.ops.probe` would import the `cad` package first, whose
`__init__` loads the Celery app (4-5 s on a busy host, past the image's 5 s timeout). `-P`
keeps this directory off sys.path, where `logging.py` would shadow the standard library's.
The Host header is the first of ALLOWED_HOSTS, as a real client would send, so Django's host
check passes.
"""

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def http_ok(port: int, *, timeout: float = 4.0) -> bool:
    request = urllib.request.Request(  # noqa: S310  (a fixed http://127.0.0.1 URL)
        f"http://127.0.0.1:{port}/healthz", headers={"Host": probe_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "http" or not argv[1].isdigit():
        print("usage: python -P cad/ops/probe.py http PORT", file=sys.stderr)
        return 2
    return 0 if http_ok(int(argv[1])) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
