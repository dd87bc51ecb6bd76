"""A course with a required test completes only once the cadre passed it (registered with the ledger)."""

from __future__ import annotations

from sqlalchemy import select

from lms.core.db import db
from lms.exams.models import Attempt, Exam, ExamStatus
from lms.learning.credits import COMPLETION_GATES


def required_tests_passed(user_id: int, course_id: int) -> bool:
    required = list(
        db.session.scalars(
            select(Exam.id).where(
                Exam.course_id == course_id, Exam.required_for_completion, Exam.status == ExamStatus.PUBLISHED
            )
        )
    )
    if not required:
        return True
    passed = set(
        db.session.scalars(
            select(Attempt.exam_id).where(
                Attempt.exam_id.in_(required), Attempt.user_id == user_id, Attempt.passed.is_(True)
            )
        )
    )
    return passed >= set(required)


def register() -> None:
    if required_tests_passed not in COMPLETION_GATES:
        COMPLETION_GATES.append(required_tests_passed)
