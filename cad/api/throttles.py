"""Request throttles (DRF) on the shared cache: 429 with Retry-After when a client is over its
rate. Redis when REDIS_URL is set, so every daphne, gunicorn and worker process counts together.

DRF's SimpleRateThrottle keeps a list of request times and writes it back after reading it, so
requests arriving together all read the same list and all pass. These count in a fixed window
with the cache's own atomic increment (Redis INCR; a lock in the local-memory cache) instead:
however many arrive at once, no more than the rate get through. A fixed window lets a client
spend its allowance at the end of one window and again at the start of the next; for the abuse
these stop (guessing, scraping, flooding a public form) that is the same order of limit.

Rates are in settings.THROTTLE_RATES, read on each request (operators tune them by
environment, tests change them).
"""

import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from cad.audit.trail import source_of

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "20/minute" -> (20, 60). DRF's format: the unit's first letter counts."""
    count, period = rate.split("/")
    return int(count), _SECONDS[period.strip()[0].lower()]


class CacheRateThrottle(BaseThrottle):
    """A fixed-window counter per (scope, ident) in the shared cache."""

    scope = ""

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = settings.THROTTLE_RATES.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        self.retry_at = (window + 1) * period
        key = f"throttle:{self.scope}:{ident}:{window}"
        # add() creates the counter only if it is missing; incr() is atomic. The key outlives
        # its window by a little, then expires by itself.
        cache.add(key, 0, timeout=period + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls: this request starts it again
            cache.add(key, 1, timeout=period + 5)
            count = 1
        return count <= limit

    def wait(self) -> float:
        return max(1, math.ceil(self.retry_at - time.time()))


class AddressRateThrottle(CacheRateThrottle):
    """Per client address, as the login lockout sees it (TRUST_X_FORWARDED_FOR)."""

    def ident(self, request) -> str | None:
        return source_of(request) or None


class UserRateThrottle(CacheRateThrottle):
    """Per signed-in user (a control room shares one address); per address otherwise."""

    def ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        address = source_of(request)
        return f"address-{address}" if address else None


class TokenEndpointThrottle(AddressRateThrottle):
    """`POST /api/v1/auth/token/`: on top of the per-account lockout, which a client spreading
    guesses over many usernames never reaches."""

    scope = "auth_token"


class GazetteerThrottle(UserRateThrottle):
    """`GET /api/v1/gazetteer/`: autocomplete, one request per keystroke at most; more is a
    script copying the address file."""

    scope = "gazetteer"


class PublicAddressThrottle(AddressRateThrottle):
    """For the unauthenticated public endpoints (issue 15): per client address.

    Addresses in settings.PUBLIC_THROTTLE_RELAXED_NETWORKS (CIDR) count against the
    `public_relaxed` rate instead: a load test's range, or a front end that gathers many members
    of the public behind one address. Empty by default, so nobody is relaxed unless named.
    """

    scope = "public"

    def allow_request(self, request, view) -> bool:
        if _in_networks(source_of(request), settings.PUBLIC_THROTTLE_RELAXED_NETWORKS):
            self.scope = "public_relaxed"
        return super().allow_request(request, view)


class PublicStatusThrottle(AddressRateThrottle):
    """The public status link: its token is the only credential, so guessing is throttled."""

    scope = "public_status"


def _in_networks(address: str, networks: list[str]) -> bool:
    if not address or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)
    except ValueError:
        return False
