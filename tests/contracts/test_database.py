from sqlalchemy import text

from lms.core.db import db
from tests.service_guard import env, need_service


def test_the_suite_runs_on_postgresql_when_it_is_provisioned(app, db_session):
    url = env("LMS_TEST_DATABASE_URL") or ""
    need_service(
        "postgresql",
        available=url.startswith("postgresql"),
        why="LMS_TEST_DATABASE_URL is not a PostgreSQL URL; the suite ran on SQLite",
    )
    assert db.engine.dialect.name == "postgresql"
    assert db.session.scalar(text("SHOW server_version_num")) >= "150000"
