"""Offline API docs at ``/docs``: Swagger UI from the installed
``flask-swagger-ui`` package (no CDN), under a Content-Security-Policy
without ``'unsafe-inline'``.

The page is ours (templates/docs.html), not flask-smorest's: flask-smorest's
template starts Swagger UI from an inline script, which such a policy
blocks. Ours starts it from static/docs.js and passes the spec's URL in a
``data-`` attribute. Of the package's dist folder only the two files the
page loads are served, under ``/docs/assets/``; everything else in it is a
404 — notably ``oauth2-redirect.html``, a page that would run script as this
origin for an OAuth2 flow the service does not have.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    send_from_directory,
    url_for,
)

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
# Exactly what templates/docs.html loads from the package.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})

# Swagger UI draws its icons from data: URIs in its CSS and calls the API
# (the spec, "Try it out") on this origin; it needs nothing else.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def page() -> Response:
    response = Response(
        render_template(
            "docs.html",
            title=current_app.config["API_TITLE"],
            spec_url=url_for("api-docs.openapi_json"),
        )
    )
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response


@bp.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    return send_from_directory(SWAGGER_UI_DIST, name)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
