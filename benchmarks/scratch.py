"""Shared by the benchmarks that run the app on PostgreSQL: a throwaway database and the environment of
an app pointed at it (production mode, inline tasks, a scratch embedded search index)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def bench_env(name: str, tag: str, **extra: str) -> dict[str, str]:
    """The current environment minus the test-only variables, plus the benchmark app's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("LMS_TEST_DATABASE_URL", "LMS_REQUIRE_SERVICES")}
    return (
        env
        | {
            "LMS_ENV": "production",
            "LMS_SECRET_KEY": "benchmark-secret-key-0123456789",
            "LMS_SESSION_COOKIE_SECURE": "0",
            "FLASK_APP": "wsgi:app",
            "LMS_INSTANCE_DIR": str(OUT / f"{name}-instance"),
            "LMS_CELERY_ALWAYS_EAGER": "1",  # publishing a course queues a search sync: run it inline
            "LMS_SEARCH_BACKEND": "embedded",
            "LMS_SEARCH_PATH": str(OUT / f"{name}-{tag}-search.sqlite"),
        }
        | extra
    )


def scratch_database(base: str, name: str) -> tuple[str, Callable[[], None]]:
    """Create database ``name`` on the server of ``base``; returns its URL and a function dropping it."""
    import sqlalchemy as sa

    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False), drop
