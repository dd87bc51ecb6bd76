"""选课 and "my courses": a cadre selects an elective (or starts studying a course) and finds it with their
progress. Dropping an elective keeps every credit and all progress; selecting it again restores it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from lms.accounts.models import User
from lms.catalog.models import Course, CourseRating, Lesson
from lms.catalog.services import rate_course, set_learner_count
from lms.core.db import db, insert_ignoring_conflicts, utcnow
from lms.core.errors import InvalidState, PermissionDenied
from lms.core.i18n import N_
from lms.core.pagination import Page
from lms.learning.models import CourseEnrollment, LedgerEntry, LessonProgress


def _refresh_count(course: Course) -> None:
    count = db.session.scalar(
        select(func.count(CourseEnrollment.id)).where(
            CourseEnrollment.course_id == course.id, CourseEnrollment.dropped_at.is_(None)
        )
    )
    set_learner_count(course, int(count or 0))


def enroll(*, actor: User, course: Course, source: str = "elective", now: datetime | None = None) -> bool:
    """Put the course in the actor's "my courses" (idempotent). True when it was not there before."""
    row = db.session.scalar(
        select(CourseEnrollment).where(
            CourseEnrollment.user_id == actor.id, CourseEnrollment.course_id == course.id
        )
    )
    if row is None:
        result = db.session.execute(
            insert_ignoring_conflicts(CourseEnrollment).values(
                user_id=actor.id, course_id=course.id, source=source, created_at=now or utcnow()
            )
        )
        added = bool(result.rowcount)  # type: ignore[attr-defined]
    elif row.dropped_at is not None:
        row.dropped_at, row.source, added = None, source, True
    else:
        added = False
    if added:
        db.session.flush()
        _refresh_count(course)
    return added


def drop(*, actor: User, course: Course, now: datetime | None = None) -> None:
    row = db.session.scalar(
        select(CourseEnrollment).where(
            CourseEnrollment.user_id == actor.id, CourseEnrollment.course_id == course.id
        )
    )
    if row is None or row.dropped_at is not None:
        return
    if has_completed(actor.id, course.id):
        raise InvalidState(N_("A completed course stays in your courses."))
    row.dropped_at = now or utcnow()
    db.session.flush()
    _refresh_count(course)


def is_enrolled(user_id: int, course_id: int) -> bool:
    return (
        db.session.scalar(
            select(CourseEnrollment.id).where(
                CourseEnrollment.user_id == user_id,
                CourseEnrollment.course_id == course_id,
                CourseEnrollment.dropped_at.is_(None),
            )
        )
        is not None
    )


def has_completed(user_id: int, course_id: int) -> bool:
    return (
        db.session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.user_id == user_id, LedgerEntry.reference == f"course:{course_id}"
            )
        )
        is not None
    )


def has_studied(user_id: int, course_id: int) -> bool:
    """Watched some of it (or completed it): the condition for rating and commenting on a course."""
    return (
        db.session.scalar(
            select(LessonProgress.id).where(
                LessonProgress.user_id == user_id,
                LessonProgress.course_id == course_id,
                LessonProgress.covered_s > 0,
            )
        )
        is not None
    ) or has_completed(user_id, course_id)


def course_progress(user_id: int, course_id: int) -> tuple[int, int, int]:
    """(percent of the course's media time covered, lessons complete, lessons with media)."""
    lessons = list(
        db.session.scalars(
            select(Lesson).where(
                Lesson.course_id == course_id, Lesson.is_active, Lesson.media_asset_id.is_not(None)
            )
        )
    )
    progress = {
        p.lesson_id: p
        for p in db.session.scalars(
            select(LessonProgress).where(
                LessonProgress.user_id == user_id, LessonProgress.course_id == course_id
            )
        )
    }
    total = sum(max(1, lesson.duration_s) for lesson in lessons) or 1
    covered = sum(
        min(progress[lesson.id].covered_s, max(1, lesson.duration_s))
        for lesson in lessons
        if lesson.id in progress
    )
    done = sum(1 for lesson in lessons if lesson.id in progress and progress[lesson.id].completed_at)
    return int(covered * 100 / total), done, len(lessons)


@dataclass(frozen=True)
class MyCourse:
    course: Course
    source: str
    selected_at: datetime
    percent: int
    completed: bool
    lessons_done: int
    lessons_total: int


def my_courses(user: User, *, status: str = "all", page: int = 1, per_page: int = 20) -> Page:
    rows = list(
        db.session.scalars(
            select(CourseEnrollment)
            .where(CourseEnrollment.user_id == user.id, CourseEnrollment.dropped_at.is_(None))
            .order_by(CourseEnrollment.created_at.desc())
        )
    )
    items = []
    for row in rows:
        course = db.session.get(Course, row.course_id)
        if course is None or course.published_revision is None:
            continue
        percent, done, total = course_progress(user.id, course.id)
        completed = has_completed(user.id, course.id)
        if (status == "completed" and not completed) or (status == "in_progress" and completed):
            continue
        items.append(
            MyCourse(
                course=course,
                source=row.source,
                selected_at=row.created_at,
                percent=100 if completed else min(99, percent),
                completed=completed,
                lessons_done=done,
                lessons_total=total,
            )
        )
    start = (page - 1) * per_page
    return Page(items[start : start + per_page], len(items), page, per_page)


class NotStudied(PermissionDenied):
    code = "not_studied"
    message = N_("You can rate a course once you have studied some of it.")


def rate_studied_course(*, actor: User, course: Course, stars: object, comment: str = "") -> CourseRating:
    """Ratings and comments come from cadres who studied the course, not from anyone passing by."""
    if not has_studied(actor.id, course.id):
        raise NotStudied()
    return rate_course(actor=actor, course=course, stars=stars, comment=comment)
