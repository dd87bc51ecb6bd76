"""The task queue contract, run against the embedded broker (SQLite) and the real one (Redis)."""

from __future__ import annotations

import queue
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from lms.app import create_app
from lms.core.db import db
from lms.core.tasks import call_after_commit
from tests.conftest import make_settings
from tests.factories import make_org
from tests.service_guard import env, need_service


def _redis_url() -> str:
    url = env("LMS_CELERY_BROKER_URL") or ""
    if url.startswith("redis"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            need_service("redis", available=False, why=f"{url}: {error}")
        return url
    need_service("redis", available=False, why="LMS_CELERY_BROKER_URL is not a redis:// URL")
    return ""


@pytest.fixture(params=["embedded", "redis"])
def broker_app(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "redis":
        url = _redis_url()
    else:
        url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    app = create_app(
        make_settings(
            tmp_path,
            LMS_CELERY_BROKER_URL=url,
            LMS_CELERY_ALWAYS_EAGER="0",
            LMS_DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite'}",
        )
    )
    return app, app.extensions["celery"]


def test_a_task_sent_is_run_by_a_worker_inside_the_app_context(broker_app):
    app, celery_app = broker_app
    seen: queue.Queue[tuple[str, bool]] = queue.Queue()
    name = f"tests.echo_{uuid.uuid4().hex}"

    @celery_app.task(name=name)
    def echo(value: str) -> None:
        from flask import current_app

        seen.put((value, current_app.name == app.name))

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        echo.delay("你好")
        assert seen.get(timeout=20) == ("你好", True)


def test_a_task_queued_while_no_worker_runs_waits_for_one(broker_app):
    _, celery_app = broker_app
    seen: queue.Queue[int] = queue.Queue()
    name = f"tests.later_{uuid.uuid4().hex}"

    @celery_app.task(name=name)
    def later(n: int) -> None:
        seen.put(n)

    later.delay(7)  # nothing is consuming yet: the broker keeps it
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert seen.get(timeout=20) == 7


def test_work_is_enqueued_only_after_commit_and_dropped_on_rollback(app, db_session):
    calls: list[str] = []
    call_after_commit(lambda: calls.append("committed"))
    assert calls == []
    db.session.commit()
    assert calls == ["committed"]
    make_org()  # services register after-commit work once they have written something
    call_after_commit(lambda: calls.append("rolled back"))
    db.session.rollback()
    db.session.commit()
    assert calls == ["committed"]


def test_a_rolled_back_savepoint_keeps_the_outer_transactions_work(app, db_session):
    calls: list[str] = []
    call_after_commit(lambda: calls.append("outer"))
    try:
        with db.session.begin_nested():
            raise RuntimeError("inner failure")
    except RuntimeError:
        pass
    db.session.commit()
    assert calls == ["outer"]
