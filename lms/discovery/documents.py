"""Catalog rows -> ``search.CourseDocument``."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from lms.accounts.models import User
from lms.catalog.models import Course, CourseStatus
from lms.catalog.queries import category_names
from lms.core.db import db
from search import CourseDocument


def build_documents(courses: list[Course]) -> tuple[list[CourseDocument], list[Course]]:
    """Documents for the published courses, and the courses that must leave the index."""
    published = [c for c in courses if c.status == CourseStatus.PUBLISHED and c.published_revision]
    gone = [c for c in courses if c not in published]
    teacher_ids = {t for c in published for t in c.published_revision.teacher_ids}  # type: ignore[union-attr]
    names = (
        dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(teacher_ids))).all())
        if teacher_ids
        else {}
    )
    categories = category_names()
    documents = []
    for course in published:
        revision = course.published_revision
        assert revision is not None
        documents.append(
            CourseDocument(
                id=str(course.id),
                title=revision.title,
                summary=_plain(revision.summary_html),
                tags=tuple(revision.tags),
                teachers=tuple(
                    dict.fromkeys([names[t] for t in revision.teacher_ids if t in names] + revision.lecturers)
                ),
                lesson_titles=tuple(lesson["title"] for lesson in revision.lessons),
                category=categories.get(revision.category_id or 0, ""),
                kind=str(revision.kind),
                hours=float(revision.hours),
                duration_s=revision.duration_s,
                visible_org_paths=tuple(sorted(set(revision.visibility_paths))),
                published_at=course.published_at,
                popularity=course.learner_count,
                rating=float(course.rating_avg or 0),
                version=course.version,
            )
        )
    return documents, gone


def _plain(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html)).strip()
