"""Reads for the catalog. Learner reads only ever return published courses the learner may see."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, func, or_, select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import AdminScope
from lms.catalog.models import (
    Category,
    Course,
    CourseRating,
    CourseRevision,
    CourseStatus,
    CourseVisibility,
    Lesson,
)
from lms.core.db import db
from lms.core.errors import NotFound
from lms.core.pagination import Page

MAX_ID = 2**31 - 1


def ancestor_paths(org_path: str) -> list[str]:
    """``/1/4/9/`` -> ``["/", "/1/", "/1/4/", "/1/4/9/"]``."""
    parts = [p for p in org_path.split("/") if p]
    return ["/"] + ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _visible(user: User) -> Select:
    return select(CourseVisibility.course_id).where(
        CourseVisibility.org_path.in_(ancestor_paths(user.org.path))
    )


def find_course(course_id: int) -> Course | None:
    return db.session.get(Course, course_id) if 0 < course_id <= MAX_ID else None


def get_published_course(user: User, course_id: int) -> Course:
    """A published course the learner may see; anything else is NotFound."""
    course = find_course(course_id)
    if (
        course is None
        or course.status != CourseStatus.PUBLISHED
        or db.session.scalar(_visible(user).where(CourseVisibility.course_id == course.id)) is None
    ):
        raise NotFound()
    return course


_visibility, _courses = CourseVisibility.__table__, Course.__table__
_VISIBLE_AMONG = (
    select(_visibility.c.course_id)
    .join(_courses, _courses.c.id == _visibility.c.course_id)
    .where(
        _visibility.c.org_path.in_(bindparam("paths", expanding=True)),
        _visibility.c.course_id.in_(bindparam("ids", expanding=True)),
        _courses.c.status == CourseStatus.PUBLISHED,
    )
)
"""Built once on the tables (no ORM compilation per call): it runs for every search and suggestion."""


def visible_course_ids(user: User, ids: list[int]) -> set[int]:
    """Of ``ids`` (e.g. search hits), those published and visible to the user: search results are
    filtered again in SQL, so a stale index can never show what the user may not see."""
    if not ids:
        return set()
    params = {"paths": ancestor_paths(user.org.path), "ids": ids}
    return set(db.session.execute(_VISIBLE_AMONG, params).scalars())


def courses_by_id(ids: list[int]) -> dict[int, Course]:
    if not ids:
        return {}
    return {c.id: c for c in db.session.scalars(select(Course).where(Course.id.in_(ids)))}


def search_published(user: User, *, text: str, page: int, per_page: int) -> Page:
    """The database fallback of search: substring match on title and summary, newest first."""
    stmt = (
        select(Course)
        .join(CourseRevision, CourseRevision.id == Course.published_revision_id)
        .where(Course.status == CourseStatus.PUBLISHED, Course.id.in_(_visible(user)))
    )
    for word in text.split()[:5]:
        stmt = stmt.where(
            or_(
                CourseRevision.title.contains(word[:50], autoescape=True),
                CourseRevision.summary_html.contains(word[:50], autoescape=True),
            )
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(
        stmt.order_by(Course.published_at.desc(), Course.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def get_editable_course(actor: User, scope: AdminScope, course_id: int) -> Course:
    """A course the actor authored, teaches, or administers; NotFound otherwise."""
    course = find_course(course_id)
    if course is None:
        raise NotFound()
    org = db.session.get(Organization, course.org_id)
    teachers = set(course.current.teacher_ids)
    if not (actor.id == course.created_by_id or actor.id in teachers or (org and scope.covers(org))):
        raise NotFound()
    return course


def list_review_queue(scope: AdminScope, *, page: int = 1, per_page: int = 20) -> Page:
    """Courses with a revision waiting for review, in the admin's subtrees, oldest first."""
    stmt = (
        select(Course)
        .join(CourseRevision, CourseRevision.id == Course.working_revision_id)
        .join(Organization, Organization.id == Course.org_id)
        .where(CourseRevision.status == "submitted")
    )
    if scope.sql_paths is not None:
        stmt = stmt.where(
            or_(*(Organization.path.startswith(p, autoescape=True) for p in scope.sql_paths))
            if scope.sql_paths
            else False
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = db.session.scalars(
        stmt.order_by(CourseRevision.submitted_at, Course.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


def category_names() -> dict[int, str]:
    return dict(db.session.execute(select(Category.id, Category.name)).all())


def published_course_ids(after_id: int = 0, limit: int = 500) -> list[int]:
    return list(
        db.session.scalars(
            select(Course.id)
            .where(Course.status == CourseStatus.PUBLISHED, Course.id > after_id)
            .order_by(Course.id)
            .limit(limit)
        )
    )


def teacher_names(user_ids: list[int]) -> list[str]:
    if not user_ids:
        return []
    names = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all())
    return [names[i] for i in user_ids if i in names]


def list_ratings(course: Course, *, include_hidden: bool, page: int = 1, per_page: int = 20) -> Page:
    """Ratings with a comment, newest first (hidden ones only for moderators)."""
    stmt = select(CourseRating).where(CourseRating.course_id == course.id, CourseRating.comment != "")
    if not include_hidden:
        stmt = stmt.where(CourseRating.is_hidden.is_(False))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = db.session.scalars(
        stmt.order_by(CourseRating.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return Page(list(items), total, page, per_page)


def find_rating(course: Course, rating_id: int) -> CourseRating | None:
    rating = db.session.get(CourseRating, rating_id) if 0 < rating_id <= MAX_ID else None
    return rating if rating is not None and rating.course_id == course.id else None


def rating_of(course: Course, user: User) -> CourseRating | None:
    return db.session.scalar(
        select(CourseRating).where(CourseRating.course_id == course.id, CourseRating.user_id == user.id)
    )


def active_lessons(course_id: int) -> list[Lesson]:
    return list(
        db.session.scalars(
            select(Lesson).where(Lesson.course_id == course_id, Lesson.is_active).order_by(Lesson.position)
        )
    )


def get_visible_lesson(user: User, lesson_id: int) -> tuple[Lesson, Course]:
    """An active lesson of a published course the learner may see; anything else is NotFound."""
    lesson = db.session.get(Lesson, lesson_id) if 0 < lesson_id <= MAX_ID else None
    if lesson is None or not lesson.is_active:
        raise NotFound()
    return lesson, get_published_course(user, lesson.course_id)
