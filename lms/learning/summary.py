"""A learner's year: earned vs target, required vs elective, by category, recent credits, courses in
progress. Used by the home page and ``GET /api/v1/me/learning-hours``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from lms.accounts.models import User
from lms.catalog.models import Category, Course
from lms.core.db import db
from lms.learning.credits import recent_entries, year_totals
from lms.learning.enrollment import course_progress
from lms.learning.models import LedgerEntry, LessonProgress
from lms.learning.targets import Target, target_for


@dataclass(frozen=True)
class CourseProgress:
    course_id: int
    title: str
    percent: int
    lessons_done: int
    lessons_total: int


@dataclass(frozen=True)
class LearnerYear:
    year: int
    target: Target
    earned: Decimal
    required: Decimal
    elective: Decimal
    by_category: list[tuple[str, Decimal]]
    by_source: dict[str, Decimal]
    recent: list[LedgerEntry]
    in_progress: list[CourseProgress]

    @property
    def percent(self) -> int:
        if self.target.hours <= 0:
            return 100
        return min(100, int(self.earned * 100 / self.target.hours))

    @property
    def missing(self) -> Decimal:
        return max(Decimal("0"), self.target.hours - self.earned)

    @property
    def missing_required(self) -> Decimal:
        return max(Decimal("0"), self.target.required_hours - self.required)


def courses_in_progress(user_id: int, limit: int = 10) -> list[CourseProgress]:
    started = db.session.execute(
        select(LessonProgress.course_id, func.max(LessonProgress.updated_at))
        .where(LessonProgress.user_id == user_id)
        .group_by(LessonProgress.course_id)
        .order_by(func.max(LessonProgress.updated_at).desc())
        .limit(limit * 2)
    ).all()
    result = []
    for course_id, _ in started:
        course = db.session.get(Course, course_id)
        if course is None or course.published_revision is None:
            continue
        percent, done, total = course_progress(user_id, course_id)
        if total == 0 or done == total:
            continue
        result.append(
            CourseProgress(
                course_id=course_id,
                title=course.published_revision.title,
                percent=min(99, percent),
                lessons_done=done,
                lessons_total=total,
            )
        )
        if len(result) >= limit:
            break
    return result


def learner_year(user: User, year: int) -> LearnerYear:
    totals = year_totals(user.id, year)
    names = dict(db.session.execute(select(Category.id, Category.name)).all())
    by_category = sorted(
        ((names.get(cid, "其他") if cid else "其他", hours) for cid, hours in totals.by_category.items()),
        key=lambda item: -item[1],
    )
    return LearnerYear(
        year=year,
        target=target_for(user),
        earned=totals.total,
        required=totals.required,
        elective=totals.elective,
        by_category=by_category,
        by_source=dict(totals.by_source),
        recent=recent_entries(user.id, year),
        in_progress=courses_in_progress(user.id),
    )


def learner_year_json(summary: LearnerYear) -> dict[str, Any]:
    def num(value: Decimal) -> float:
        return float(value)

    return {
        "year": summary.year,
        "target": {
            "hours": num(summary.target.hours),
            "required_hours": num(summary.target.required_hours),
            "window_years": summary.target.window_years,
            "label": summary.target.label,
        },
        "earned": num(summary.earned),
        "percent": summary.percent,
        "missing": num(summary.missing),
        "required": {"earned": num(summary.required), "missing": num(summary.missing_required)},
        "elective": {"earned": num(summary.elective)},
        "by_category": [{"category": name, "hours": num(hours)} for name, hours in summary.by_category],
        "by_source": {k: num(v) for k, v in summary.by_source.items()},
        "recent": [
            {
                "id": e.id,
                "hours": num(e.hours),
                "kind": str(e.kind),
                "source_kind": str(e.source_kind),
                "title": e.title,
                "use": e.use,
                "reason": e.reason,
                "created_at": e.created_at.isoformat(),
            }
            for e in summary.recent
        ],
        "in_progress": [
            {
                "course_id": c.course_id,
                "title": c.title,
                "percent": c.percent,
                "lessons_done": c.lessons_done,
                "lessons_total": c.lessons_total,
            }
            for c in summary.in_progress
        ],
    }
