"""The index follows the catalog through the app's own path: services write the outbox in the same
transaction, the sync task applies it after the commit, and ``flask search reindex`` rebuilds beside
the live index while all this goes on. Run on the default stack (SQLite, the embedded engine, the
SQLite broker) and on the production one (PostgreSQL, Elasticsearch, Redis), each with committed data
in a database of its own, as the processes of a real installation see it.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from flask import Flask
from sqlalchemy import select

from lms.app import create_app
from lms.catalog import services as catalog
from lms.catalog.models import Course, CourseStatus
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.discovery import services as discovery
from lms.discovery.engine import get_search_engine
from search import SearchQuery, SearchUnavailable, create_engine
from tests.conftest import make_settings
from tests.factories import make_admin, make_course, make_teacher, province_tree
from tests.live import scratch_postgres
from tests.service_guard import env, need_service

STACKS = ["embedded", pytest.param("elasticsearch", marks=pytest.mark.service("elasticsearch"))]


def _elasticsearch_url() -> str:
    url = env("LMS_ELASTICSEARCH_URL") or ""
    need_service("elasticsearch", available=bool(url), why="LMS_ELASTICSEARCH_URL is not set")
    probe = create_engine("elasticsearch", url=url)
    try:
        probe.ping()
    except SearchUnavailable as error:
        need_service("elasticsearch", available=False, why=str(error))
    finally:
        probe.close()
    return url


def _redis_url() -> str:
    url = env("LMS_CELERY_BROKER_URL") or ""
    need_service("redis", available=url.startswith("redis"), why="LMS_CELERY_BROKER_URL is not redis://")
    return url


@contextmanager
def _database(stack: str, tmp_path: Path) -> Iterator[str]:
    if stack == "embedded":
        yield f"sqlite:///{tmp_path / 'app.sqlite'}"
    else:
        with scratch_postgres("lms_search_sync") as url:
            yield url


@contextmanager
def live_app(stack: str, tmp_path: Path, *, worker: bool = False) -> Iterator[Flask]:
    """The app on a migrated database of its own, with tasks run eagerly after each commit, or (``worker``)
    sent through a real broker on a queue of this test's own."""
    from flask_migrate import upgrade

    settings: dict[str, str] = {}
    if stack == "elasticsearch":
        settings |= {
            "LMS_SEARCH_BACKEND": "elasticsearch",
            "LMS_ELASTICSEARCH_URL": _elasticsearch_url(),
            "LMS_SEARCH_INDEX_PREFIX": f"test_{secrets.token_hex(4)}_sync_",
        }
    if worker:
        broker = _redis_url() if stack == "elasticsearch" else f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
        settings |= {"LMS_CELERY_BROKER_URL": broker, "LMS_CELERY_ALWAYS_EAGER": "0"}
    queue = f"test-search-sync-{uuid.uuid4().hex}"
    with _database(stack, tmp_path) as url:
        app = create_app(make_settings(tmp_path, LMS_DATABASE_URL=url, **settings))
        if worker:  # other workers on the same Redis never take this test's tasks
            app.extensions["celery"].conf.task_default_queue = queue
        with app.app_context():
            upgrade()
        try:
            yield app
        finally:
            with app.app_context():
                get_search_engine().drop()
                db.session.remove()
                db.engine.dispose()
            if worker and stack == "elasticsearch":
                import redis

                with redis.Redis.from_url(settings["LMS_CELERY_BROKER_URL"]) as client:
                    client.delete(queue, f"_kombu.binding.{queue}")


def _people() -> dict[str, Any]:
    orgs = province_tree()
    admin = make_admin(of=orgs["county11"])
    teacher = make_teacher(org=orgs["unit11"], name="王建国")
    db.session.commit()
    return {"admin": admin, "teacher": teacher}


def _course(course_id: int) -> Course:
    found = db.session.get(Course, course_id)
    assert found is not None
    return found


def publish(people: dict[str, Any], title: str) -> int:
    course_id = int(make_course(teacher=people["teacher"], publish_by=people["admin"], title=title).id)
    db.session.commit()  # and no reading after it: on SQLite an open transaction holds the write lock
    return course_id


def revise(people: dict[str, Any], course_id: int, title: str, *, approve: bool = True) -> None:
    """A new revision of a published course, approved (published) or left as a draft."""
    course = _course(course_id)
    data = catalog.course_data_of(course.current).__dict__ | {"title": title}
    catalog.edit_course(actor=people["teacher"], course=course, data=clean_course_data(data))
    if approve:
        catalog.submit_for_review(actor=people["teacher"], course=course)
        catalog.approve(actor=people["admin"], course=course)
    db.session.commit()


def archive(people: dict[str, Any], course_id: int) -> None:
    catalog.archive(actor=people["admin"], course=_course(course_id))
    db.session.commit()


def published_titles() -> dict[str, str]:
    """What the database publishes: course id -> title of its published revision."""
    db.session.expire_all()
    courses = db.session.scalars(select(Course).where(Course.status == CourseStatus.PUBLISHED))
    return {str(c.id): c.published_revision.title for c in courses if c.published_revision}


def indexed_titles() -> dict[str, str]:
    """What the index holds: course id -> title, every page of an unrestricted search."""
    engine = get_search_engine()
    engine.refresh()
    found: dict[str, str] = {}
    page = 1
    while hits := engine.search(SearchQuery(per_page=100, page=page)).hits:
        found |= {hit.id: hit.title for hit in hits}
        page += 1
    assert engine.count() == len(found)
    return found


def titles_found(text: str) -> set[str]:
    engine = get_search_engine()
    engine.refresh()
    return {hit.title for hit in engine.search(SearchQuery(text, per_page=100)).hits}


@pytest.mark.parametrize("stack", STACKS)
def test_a_reindex_under_concurrent_edits_loses_nothing(
    stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Courses are published, revised and archived (each committed and synced by the task) while
    ``flask search reindex`` reads the catalog, before its switch and while it catches up: afterwards
    the index holds exactly what the database publishes, and searches answered all along."""
    monkeypatch.setattr(discovery, "BATCH", 5)
    reading, first_edits_done = threading.Event(), threading.Event()
    read_in_batches = discovery._published_documents

    def paused_after_two_batches() -> Iterator[Any]:
        for n, document in enumerate(read_in_batches()):
            if n == 10:  # 10 of the 30 loaded into the new index; the rest not yet read
                reading.set()
                assert first_edits_done.wait(60)
            yield document

    monkeypatch.setattr(discovery, "_published_documents", paused_after_two_batches)
    with live_app(stack, tmp_path) as app, app.app_context():
        people = _people()
        ids = [publish(people, f"乡村振兴第{n}讲") for n in range(1, 31)]
        assert len(indexed_titles()) == 30
        runner = app.test_cli_runner()
        reindex: dict[str, Any] = {}
        rebuilding = threading.Thread(
            target=lambda: reindex.update(result=runner.invoke(args=["search", "reindex"]))
        )
        rebuilding.start()
        try:
            assert reading.wait(60), "the rebuild never started reading"
            # While the rebuild is half-way: edits to courses it has loaded and to ones it has not read yet.
            added = [publish(people, f"基层治理新课{n}") for n in range(1, 4)]
            revise(people, ids[1], "乡村振兴第2讲（修订）")  # loaded already
            revise(people, ids[25], "乡村振兴第26讲（修订）")  # not read yet
            revise(people, ids[3], "未审核的草稿标题", approve=False)  # learners still see the published one
            for gone in (ids[0], ids[20], added[0]):
                archive(people, gone)
            assert titles_found("基层治理") == {"基层治理新课2", "基层治理新课3"}  # the live index answers
            assert "乡村振兴第26讲（修订）" in titles_found("修订")
            first_edits_done.set()
            # And while it loads the rest, switches and catches up.
            added.append(publish(people, "基层治理新课4"))
            revise(people, ids[2], "乡村振兴第3讲（修订）")
            revise(people, ids[1], "乡村振兴第2讲（再修订）")
            archive(people, ids[29])
        finally:
            first_edits_done.set()
            rebuilding.join(120)
        result = reindex["result"]
        assert result.exit_code == 0, result.output
        assert "已重建索引" in result.output
        indexed, published = indexed_titles(), published_titles()
        assert indexed == published
        assert len(published) == 30 + 4 - 4
        assert published[str(ids[3])] == "乡村振兴第4讲"
        assert titles_found("修订") == {
            "乡村振兴第2讲（再修订）",
            "乡村振兴第3讲（修订）",
            "乡村振兴第26讲（修订）",
        }


def _eventually(check: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not in search after {seconds} s: {what}"
        time.sleep(0.2)


@pytest.mark.parametrize("stack", STACKS)
def test_catalog_changes_reach_search_through_a_worker_right_after_the_commit(
    stack: str, tmp_path: Path
) -> None:
    """No beat runs here: what reaches the index is the sync task each commit with catalog changes
    queues, taken by a real worker from a real broker."""
    with live_app(stack, tmp_path, worker=True) as app, app.app_context():
        people = _people()
        with start_worker(
            app.extensions["celery"], pool="solo", perform_ping_check=False, shutdown_timeout=20
        ):
            course_id = publish(people, "数字政府建设专题")
            _eventually(lambda: titles_found("数字政府") == {"数字政府建设专题"}, "publishing")
            revise(people, course_id, "数字政府建设与数据安全")
            _eventually(lambda: titles_found("数字政府") == {"数字政府建设与数据安全"}, "a new revision")
            revise(people, course_id, "尚未审核的标题", approve=False)
            archive(people, course_id)
            _eventually(lambda: titles_found("数字政府") == set(), "archiving")
            assert indexed_titles() == published_titles() == {}
