"""The demo page at ``/``: plain HTML, CSS and JavaScript from app/static.

A Content-Security-Policy allows only this origin's own scripts and styles
(no inline code), so even an injected tag could not run or leak the page's
data; the session cookie is HttpOnly in any case.

Mailed links open the same page at ``/reset-password?token=…`` and
``/verify-email?token=…`` (``lifecycle._link``): the script reads the token,
takes it out of the address bar and sends it in a JSON body. The token is
never rendered into the page, and the access log leaves query strings out
(gunicorn.conf.py); ``Referrer-Policy: no-referrer`` keeps it out of other
sites' logs.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

# Files come from the app's own static folder (app/static, served at /static).
bp = Blueprint("web", __name__)

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def _page(flow: str) -> Response:
    """The one page; ``flow`` tells its script which mailed link opened it."""
    response = Response(render_template("index.html", flow=flow))
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    if flow:
        # Its address holds a live token: no cache keeps a copy under it.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def index() -> Response:
    return _page("")


@bp.get("/reset-password")
def reset_password() -> Response:
    return _page("reset-password")


@bp.get("/verify-email")
def verify_email() -> Response:
    return _page("verify-email")
