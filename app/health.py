"""Liveness and readiness probes (docs/API.md, Probes)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy import text

from app import redis_client
from app.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators")


class HealthOut(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})


class RedisHealthOut(ma.Schema):
    topology = ma.fields.String(
        required=True, metadata={"enum": ["single", "cluster", "sentinel"], "example": "cluster"}
    )
    state = ma.fields.String(required=True, metadata={"enum": ["ok", "degraded"], "example": "ok"})
    primaries = ma.fields.Integer(metadata={"example": 3})
    failing = ma.fields.List(ma.fields.String(), metadata={"example": []})


class ReadyOut(ma.Schema):
    status = ma.fields.String(required=True, metadata={"example": "ok"})
    checks = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"example": {"database": "ok", "redis": "ok"}},
    )
    detail = ma.fields.String(metadata={"example": "redis unavailable"})
    redis = ma.fields.Nested(RedisHealthOut)


@bp.route("/healthz", methods=["GET"])
@bp.response(200, HealthOut)
@bp.doc(operationId="healthz", security=[])
def healthz() -> dict[str, str]:
    """200 while the process serves requests; checks nothing else."""
    return {"status": "ok"}


def _check_database() -> None:
    db.session.execute(text("SELECT 1"))


def _check_redis() -> dict[str, Any]:
    return redis_client.health(current_app.extensions["redis"])


CHECKS: dict[str, Callable[[], Any]] = {"database": _check_database, "redis": _check_redis}


@bp.route("/readyz", methods=["GET"])
@bp.response(200, ReadyOut)
@bp.alt_response(503, schema=ReadyOut, description="A dependency is unreachable")
@bp.doc(operationId="readyz", security=[])
def readyz() -> tuple[dict[str, Any], int]:
    """200 when the database and Redis answer; else 503 naming what failed.

    On a Redis Cluster, ``redis`` says whether every primary reports
    ``cluster_state:ok``. A cluster with some primaries failing is
    ``degraded`` but still ready (200): every web host sees the same cluster,
    so failing readiness would take all of them out of the load balancer and
    turn a failover of some slots into an outage of all."""
    checks: dict[str, str] = {}
    redis_health: dict[str, Any] | None = None
    for name, check in CHECKS.items():
        try:
            result = check()
            checks[name] = "ok"
        except Exception as error:  # any failure means "not ready"
            log.warning("readiness check %s failed: %s", name, error.__class__.__name__)
            checks[name] = "unavailable"
            continue
        if name == "redis" and isinstance(result, dict):
            redis_health = result
            if result["state"] != "ok":
                checks[name] = result["state"]
                log.warning("readiness: redis %s: %s", result["state"], result.get("failing"))
    failed = [name for name, state in checks.items() if state == "unavailable"]
    extra = {"redis": redis_health} if redis_health and redis_health["topology"] != "single" else {}
    if failed:
        db.session.rollback()
        body = {
            "status": "unavailable",
            "checks": checks,
            "detail": f"{', '.join(failed)} unavailable",
            **extra,
        }
        return body, 503
    return {"status": "ok", "checks": checks, **extra}, 200
