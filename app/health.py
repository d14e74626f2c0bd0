"""Liveness and readiness probes (docs/API.md, Probes)."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators")


class HealthOut(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


class ReadyOut(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checks = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"example": {"database": "ok", "redis": "ok"}},
    )
    detail = ma.fields.String(metadata={"example": "redis unavailable"})


@bp.route("/healthz", methods=["GET"])
@bp.response(200, HealthOut)
@bp.doc(operationId="healthz", security=[])
def healthz() -> dict[str, str]:
    """200 while the process serves requests; checks nothing else."""
    return {"status": "ok"}


def _check_database() -> None:
    db.session.execute(text("SELECT 1"))


def _check_redis() -> None:
    current_app.extensions["redis"].ping()


CHECKS = {"database": _check_database, "redis": _check_redis}


@bp.route("/readyz", methods=["GET"])
@bp.response(200, ReadyOut)
@bp.alt_response(503, schema=ReadyOut, description="A dependency is unreachable")
@bp.doc(operationId="readyz", security=[])
def readyz() -> tuple[dict[str, Any], int]:
    """200 when the database and Redis answer; else 503 naming what failed."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure means "not ready"
            log.warning("readiness check %s failed: %s", name, error.__class__.__name__)
            checks[name] = "unavailable"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        db.session.rollback()
        body = {
            "status": "unavailable",
            "checks": checks,
            "detail": f"{', '.join(failed)} unavailable",
        }
        return body, 503
    return {"status": "ok", "checks": checks}, 200
