"""Readiness checks of each backing service: each returns None when healthy or a reason."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import text

from lms.core.db import db
from lms.discovery.engine import get_search_engine
from lms.media.storage import get_storage


def _database() -> None:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()  # a probe holds no transaction (on SQLite it would hold the write lock)


def _object_store() -> None:
    get_storage().ping()


def _search() -> None:
    get_search_engine().ping()


def _task_queue() -> None:
    celery_app = current_app.extensions["celery"]
    if celery_app.conf.task_always_eager:
        return
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "object_store": _object_store,
    "search": _search,
    "task_queue": _task_queue,
}


def run_checks() -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # a probe reports every failure, whatever its type
            if name == "database":
                db.session.rollback()
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
        else:
            results[name] = {"ok": True}
    return results
