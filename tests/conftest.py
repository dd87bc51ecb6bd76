"""Session-scoped app on a migrated database; each test runs in a transaction rolled back after it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from lms.app import create_app
from lms.core.db import db
from lms.settings import Settings
from tests.service_guard import SKIP_PREFIX


def _test_database_url(tmp: Path) -> str:
    return os.environ.get("LMS_TEST_DATABASE_URL") or f"sqlite:///{tmp / 'test.sqlite'}"


def make_settings(instance_dir: Path, **overrides: str) -> Settings:
    env = {
        "LMS_ENV": "test",
        "LMS_INSTANCE_DIR": str(instance_dir),
        "LMS_DATABASE_URL": _test_database_url(instance_dir),
        "LMS_CELERY_BROKER_URL": "memory://",
        "LMS_CELERY_ALWAYS_EAGER": "1",
        "LMS_STORAGE_BACKEND": "local",
        "LMS_SEARCH_BACKEND": "embedded",
    } | overrides
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from flask_migrate import upgrade

    instance = tmp_path_factory.mktemp("instance")
    application = create_app(make_settings(instance))
    application.test_client_class = RequestScopedClient
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.session.remove()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small lectures, a phone video, audio, a cover and bad files, made with ffmpeg's test sources."""
    from tests.media_helpers import make_media

    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def db_session(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Everything a test (and the requests it makes) commits is rolled back afterwards."""
    with app.app_context():
        engines = db.engines
        connection = engines[None].connect()
        outer = connection.begin()
        monkeypatch.setitem(engines, None, connection)
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
        try:
            yield db.session
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()


class RequestScopedClient(FlaskClient):
    """Each request gets its own app context, as in production: without this, Flask reuses the test's
    app context, so ``g`` (Flask-Login's cached user) and the DB session would leak between requests."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask, db_session: object) -> FlaskClient:
    return app.test_client()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """A loud summary of tests skipped because a real service was absent."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if SKIP_PREFIX in str(r.longrepr)]
    if not skipped:
        return
    terminalreporter.section("SERVICE TESTS SKIPPED", sep="!", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(skipped)} test(s) needing a real service did not run. Start the services with "
        '`make services-up` and `eval "$(scripts/services.sh env)"`, or set LMS_REQUIRE_SERVICES=1 '
        "to make them fail instead (as CI does).",
        red=True,
    )
    reasons = sorted({str(r.longrepr[2]).split(SKIP_PREFIX, 1)[-1].strip() for r in skipped})
    for reason in reasons:
        terminalreporter.write_line(f"  - {reason}")
