"""The demo page at ``/``: plain HTML, CSS and JavaScript from app/static.

A Content-Security-Policy allows only this origin's own scripts and styles
(no inline code), so even an injected tag could not run or leak the page's
data; the session cookie is HttpOnly in any case.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

# Files come from the app's own static folder (app/static, served at /static).
bp = Blueprint("web", __name__)

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.get("/")
def index() -> Response:
    response = Response(render_template("index.html"))
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response
