"""/readyz on the embedded defaults and on the real services: the same assertions for both."""

from __future__ import annotations

import pytest

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.service_guard import env, need_service

REAL = {
    "LMS_STORAGE_BACKEND": "minio",
    "LMS_MINIO_ENDPOINT": env("LMS_MINIO_ENDPOINT"),
    "LMS_MINIO_ACCESS_KEY": env("LMS_MINIO_ACCESS_KEY"),
    "LMS_MINIO_SECRET_KEY": env("LMS_MINIO_SECRET_KEY"),
    "LMS_MINIO_BUCKET": "lms-readyz-test",
    "LMS_SEARCH_BACKEND": "elasticsearch",
    "LMS_ELASTICSEARCH_URL": env("LMS_ELASTICSEARCH_URL"),
    "LMS_SEARCH_INDEX_PREFIX": "lms_readyz_test_",
    "LMS_CELERY_BROKER_URL": env("LMS_CELERY_BROKER_URL"),
    "LMS_CELERY_ALWAYS_EAGER": "0",
    "LMS_DATABASE_URL": env("LMS_TEST_DATABASE_URL"),
}

SOURCE = {"LMS_DATABASE_URL": "LMS_TEST_DATABASE_URL"}  # the app setting -> the variable it comes from


@pytest.fixture(params=["embedded", "real"])
def backend_app(request, tmp_path):  # type: ignore[no-untyped-def]
    app, expected = _build(request.param, tmp_path)
    yield app, expected
    with app.app_context():
        db.engine.dispose()


def _build(kind, tmp_path):  # type: ignore[no-untyped-def]
    if kind == "embedded":
        return create_app(make_settings(tmp_path, LMS_DATABASE_URL=f"sqlite:///{tmp_path / 'r.sqlite'}")), {
            "database": "sqlite",
            "object_store": "local",
            "search": "embedded",
            "task_queue": "memory",
        }
    missing = [SOURCE.get(name, name) for name, value in REAL.items() if value is None]
    need_service(
        "postgresql, redis, minio, elasticsearch",
        available=not missing,
        why=f'{", ".join(missing)} not set (eval "$(scripts/services.sh env)")',
    )
    expected = {
        "database": "postgresql+psycopg",
        "object_store": "minio",
        "search": "elasticsearch",
        "task_queue": "redis",
    }
    return create_app(make_settings(tmp_path, **{k: v for k, v in REAL.items() if v})), expected


def test_readyz_is_ready_on_each_backend(backend_app):
    app, expected = backend_app
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert {name: check["backend"] for name, check in body["checks"].items()} == expected
    assert all(check["ok"] for check in body["checks"].values())
    app.extensions["lms.storage"].delete_prefix("x/")  # the bucket exists and answers
