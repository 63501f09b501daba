"""Content-Security-Policy on every response: script, style and everything else from our origin.

Django 5.2 has no CSP support (6.0 adds it), so this small middleware sends one strict policy in
every profile, development included, so a page that breaks it breaks on a developer's screen
first. No inline script, handler attribute or style attribute is allowed anywhere: pages load
their JS and CSS from static files and pass data in `data-*` attributes or `json_script` blocks.
Setting `element.style` from JS (Leaflet does) is not covered by style-src and keeps working.
"""

from urllib.parse import urlsplit

from django.conf import settings


def tile_source(tile_url: str) -> str | None:
    """The CSP source for a Leaflet tile URL template, or None if it needs none.

    `https://{s}.tile.example.org/{z}/{x}/{y}.png` becomes `https://*.tile.example.org`; a
    same-origin (relative) template is already covered by 'self'.
    """
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def build_policy(*, tile_url: str) -> str:
    img_src = ["'self'", "data:"]
    tiles = tile_source(tile_url)
    if tiles:
        img_src.append(tiles)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": img_src,
        "font-src": ["'self'"],
        # 'self' covers same-origin ws:/wss: (the board socket) in CSP Level 3 browsers; the
        # browser test checks it in Chromium.
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every response that does not already carry one."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Built once: the tile server is deployment configuration, not per request.
        self.policy = build_policy(tile_url=settings.MAP_TILE_URL)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
