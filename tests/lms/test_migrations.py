"""Migrations: one head, upgrade on an empty database, and models that match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings


def _fresh_app(tmp_path):  # type: ignore[no-untyped-def]
    return create_app(make_settings(tmp_path, LMS_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite'}"))


def test_single_head(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_on_an_empty_database_matches_the_models(tmp_path):
    app = _fresh_app(tmp_path)
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        db.engine.dispose()


def test_the_test_database_is_at_head(app, db_session):
    # The suite's own database (PostgreSQL in CI) was built by the migrations, not create_all.
    context = MigrationContext.configure(db.session.connection(), opts={"compare_type": True})
    assert compare_metadata(context, db.metadata) == []
