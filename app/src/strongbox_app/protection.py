"""Cross-site request protection and the security headers of every response.

Cross-site requests are refused by looking at what the browser says about where
a request comes from, not with a token: a token would have to live in the
session, and the login form would then create a stored session for every
anonymous visitor who merely opens it.

For a request with an unsafe method (anything but GET, HEAD, OPTIONS, TRACE):

1. ``Sec-Fetch-Site`` present (all current browsers send it): only
   ``same-origin`` and ``none`` (typed by the user) pass.
2. Otherwise ``Origin`` present (older browsers send it on every POST): its host
   must equal the request's ``Host``. ``Origin: null`` fails.
3. Neither header: the request did not come from a browser that a third-party
   page could drive (curl, scripts, the Flask test client), so it passes. Such
   a client only sends the cookies it was given itself.

The host is compared without the scheme, so a TLS-terminating proxy in front of
the app needs no extra configuration.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request, Response, abort, request

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Only same-origin resources; no inline script or style, no framing, forms
#: may only post back to this site.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_cross_site(req: Request) -> bool:
    """Whether ``req`` was sent by a browser on behalf of another site."""
    fetch_site = req.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = req.headers.get("Origin")
    if origin is None:
        return False
    try:
        origin_host = urlsplit(origin).netloc
    except ValueError:
        return True
    return not origin_host or origin_host.lower() != req.host.lower()


def refuse_cross_site_requests() -> None:
    """``before_request`` hook: abort with 403 on a cross-site unsafe request.

    It runs before any view and never touches the session.
    """
    if request.method not in _SAFE_METHODS and is_cross_site(request):
        abort(403, description="This request came from another site and was refused.")


def add_security_headers(response: Response) -> Response:
    """``after_request`` hook: security headers on every response, and
    ``Cache-Control: no-store`` on every page (not on static files), since any
    page may show who is logged in."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
