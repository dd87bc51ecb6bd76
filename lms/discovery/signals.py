"""Catalog changes -> the search outbox (same transaction) -> a sync task (after commit)."""

from __future__ import annotations

from lms.catalog.models import Course
from lms.catalog.signals import course_changed
from lms.core.db import db
from lms.core.tasks import call_after_commit, enqueue
from lms.discovery.models import SearchOutbox
from lms.discovery.tasks import sync_search


def record_change(course: Course) -> None:
    db.session.add(SearchOutbox(course_id=course.id))
    db.session.flush()
    call_after_commit(lambda: enqueue(sync_search.name))


def connect_signals() -> None:
    course_changed.connect(record_change, weak=False)
