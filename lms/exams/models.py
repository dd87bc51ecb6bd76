"""Question banks with versioned questions; tests (course quizzes and exams); attempts and answers.

A question's content lives in numbered versions; an attempt's paper pins the versions it drew, so
editing a question never changes an attempt already taken. An attempt's deadline is the server's.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import TimestampMixin, UTCDateTime, db, intpk, utcnow


class QuestionBank(TimestampMixin, db.Model):
    """Owned by an org (shared down its subtree) or, with no org, by a teacher."""

    __tablename__ = "question_banks"
    __table_args__ = (UniqueConstraint("org_id", "owner_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class Question(TimestampMixin, db.Model):
    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("bank_id", "external_id"),
        Index("ix_questions_bank_fingerprint", "bank_id", "fingerprint"),
    )

    id: Mapped[intpk]
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(120))  # 题号 / GIFT title / Moodle name
    fingerprint: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(200), default="", index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    difficulty: Mapped[int | None] = mapped_column(Integer)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("question_versions.id", use_alter=True, name="fk_questions_current_version_id")
    )
    is_archived: Mapped[bool] = mapped_column(default=False)


class QuestionVersion(db.Model):
    """Immutable once written."""

    __tablename__ = "question_versions"
    __table_args__ = (UniqueConstraint("question_id", "number"),)

    id: Mapped[intpk]
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    marks: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("1"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ExamStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class Exam(TimestampMixin, db.Model):
    """A course quiz (``course_id`` set) or a standalone exam."""

    __tablename__ = "exams"

    id: Mapped[intpk]
    title: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    status: Mapped[ExamStatus] = mapped_column(String(16), default=ExamStatus.DRAFT)
    # [{"kind": "fixed", "question_id": 1, "marks": "2"}, {"kind": "random", "category": "…", "difficulty":
    #   null, "count": 5, "marks": "1"}] — the questions come from the banks in ``bank_ids``
    structure: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    bank_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    shuffle_questions: Mapped[bool] = mapped_column(default=True)
    shuffle_options: Mapped[bool] = mapped_column(default=True)
    one_per_page: Mapped[bool] = mapped_column(default=False)
    time_limit_minutes: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)  # e.g. 2 = one attempt plus a 补考
    grading: Mapped[str] = mapped_column(String(8), default="highest")  # highest | last
    pass_percent: Mapped[int] = mapped_column(Integer, default=60)
    review: Mapped[str] = mapped_column(String(16), default="answers")  # score | answers | explanations
    review_after_close: Mapped[bool] = mapped_column(default=False)  # else right after submitting
    credit_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("0"))  # on a pass
    required_for_completion: Mapped[bool] = mapped_column(default=False)  # course quiz gates the course


class AttemptStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"  # waiting for a teacher to mark short answers
    GRADED = "graded"


class Attempt(db.Model):
    __tablename__ = "exam_attempts"
    __table_args__ = (
        UniqueConstraint("exam_id", "user_id", "number"),
        Index("ix_exam_attempts_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[intpk]
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[AttemptStatus] = mapped_column(String(16), default=AttemptStatus.IN_PROGRESS)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auto_submitted: Mapped[bool] = mapped_column(default=False)
    # [{"version_id": 7, "marks": "2", "options": ["C", "A", "B", "D"] | null}, ...] in the order shown
    paper: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    max_score: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal("0"))
    passed: Mapped[bool | None] = mapped_column()
    # One device at a time: the token handed to the device that opened the attempt last
    device_token: Mapped[str] = mapped_column(String(32))
    device_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AttemptAnswer(db.Model):
    __tablename__ = "exam_answers"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)

    id: Mapped[intpk]
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    saves: Mapped[int] = mapped_column(Integer, default=0)
    saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    score: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    needs_marking: Mapped[bool] = mapped_column(default=False, index=True)
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    feedback: Mapped[str] = mapped_column(Text, default="")
