"""The app's database connections die under it (PostgreSQL restarted, failover): pooled connections are
renewed; a request that meets a dead connection gets a clear 503 to retry, never a 500, and the next works."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

import lms.app
from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.live import scratch_postgres


def _kill_connections(url: str) -> int:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        admin.dispose()


@pytest.fixture
def pg_app(tmp_path):  # type: ignore[no-untyped-def]
    with scratch_postgres("lms_restart") as url:
        app = create_app(make_settings(tmp_path, LMS_DATABASE_URL=url))
        with app.app_context():
            db.create_all()
            db.session.remove()
        yield app, url
        with app.app_context():
            db.engine.dispose()


def test_an_idle_pooled_connection_that_died_is_replaced_before_use(pg_app, monkeypatch):
    app, url = pg_app
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # one connection now sits in the pool
        db.session.remove()
    assert _kill_connections(url) >= 1
    monkeypatch.setattr(lms.app, "IDLE_PING_S", 0.0)  # every checkout counts as after a pause
    with app.app_context():
        assert db.session.execute(text("SELECT 2")).scalar() == 2
        db.session.remove()


def test_a_connection_that_died_while_busy_gives_a_503_to_retry_then_recovers(pg_app, monkeypatch):
    app, url = pg_app
    monkeypatch.setattr(lms.app, "IDLE_PING_S", 3600.0)  # no ping: the request meets the dead connection
    client = app.test_client()
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.remove()
    assert _kill_connections(url) >= 1
    response = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x" * 12})
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "service_unavailable"
    again = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x" * 12})
    assert again.status_code == 401, again.get_data(as_text=True)  # unknown user: answered normally
