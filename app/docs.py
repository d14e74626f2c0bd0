"""Offline API docs: Swagger UI's files come from the installed
``flask-swagger-ui`` package (no CDN), served under ``/docs/assets/``."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


def init_app(app: Flask) -> None:
    assets = Blueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=str(SWAGGER_UI_DIST),
        static_url_path=app.config["OPENAPI_SWAGGER_UI_URL"].rstrip("/"),
    )
    app.register_blueprint(assets)
