from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from lms.ops.checks import run_checks

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up and serving (does not touch any service)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Each backing service, ok or failing with a reason; 503 when any fails."""
    results = run_checks()
    ready = all(r["ok"] for r in results.values())
    settings = current_app.extensions["lms.settings"]
    backends = {
        "database": settings.database_url.split(":", 1)[0],
        "object_store": settings.storage_backend,
        "search": settings.search_backend,
        "task_queue": settings.celery_broker_url.split(":", 1)[0],
    }
    for name, result in results.items():
        result["backend"] = backends[name]
    return jsonify(status="ready" if ready else "unavailable", checks=results), (200 if ready else 503)
