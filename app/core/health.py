"""/healthz: is this node able to serve? For Apache, load balancers and monitoring."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger("tsunagu.health")


@bp.get("/healthz")
@limiter.exempt
def healthz():  # type: ignore[no-untyped-def]
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("health check: database unreachable (%s)", type(exc).__name__)
        return jsonify(status="unavailable", checks={"database": "error"}), 503
    return jsonify(status="ok", checks={"database": "ok"}), 200
