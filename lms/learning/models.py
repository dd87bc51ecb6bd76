"""Playback sessions, heartbeat evidence, lesson progress, the 学时 ledger and yearly targets.

Evidence is append-only: every heartbeat, accepted or rejected, is a row. Lesson progress is derived from
the accepted heartbeats (the union of credited ranges) and is never edited by hand. The ledger is
append-only too: corrections and revocations are new rows that point at what they correct.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import UTCDateTime, db, intpk, utcnow


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class PlaybackSession(db.Model):
    """One viewing of one lesson in one tab/device. ``state`` is the rules engine's SessionState."""

    __tablename__ = "playback_sessions"

    id: Mapped[intpk]
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    status: Mapped[SessionStatus] = mapped_column(String(16), default=SessionStatus.ACTIVE)
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    challenge: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what the player shows (no answer)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    challenges_failed: Mapped[int] = mapped_column(Integer, default=0)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class PlaybackLease(db.Model):
    """The one active playback a user may have: starting another revokes the holder."""

    __tablename__ = "playback_leases"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("playback_sessions.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HeartbeatRecord(db.Model):
    """Evidence: what the client claimed, what the server decided, and why."""

    __tablename__ = "playback_heartbeats"
    __table_args__ = (Index("ix_playback_heartbeats_session_seq", "session_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("playback_sessions.id", ondelete="CASCADE"))
    # The session's user and lesson, copied. No foreign key to users (it locked the user's row at every
    # heartbeat) and no indexes (evidence is read by session): the session's own keys cascade.
    user_id: Mapped[int] = mapped_column(Integer)
    lesson_id: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    position_s: Mapped[float | None] = mapped_column(Float)
    rate: Mapped[float | None] = mapped_column(Float)
    visible: Mapped[bool | None] = mapped_column()
    claimed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    accepted: Mapped[bool] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    credited: Mapped[list[Any]] = mapped_column(JSON, default=list)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    challenge_issued: Mapped[bool] = mapped_column(default=False)


class LessonProgress(db.Model):
    """A user's unique covered time of a lesson, across all sessions (derived from the evidence)."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    covered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    covered_s: Mapped[float] = mapped_column(Float, default=0.0)
    percent: Mapped[int] = mapped_column(Integer, default=0)
    position_s: Mapped[float] = mapped_column(Float, default=0.0)  # where to resume
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SourceKind(enum.StrEnum):
    ONLINE_COURSE = "online_course"
    TEST = "test"
    CLASS = "class"
    OFFLINE_CLAIM = "offline_claim"


class EntryKind(enum.StrEnum):
    CREDIT = "credit"
    CORRECTION = "correction"  # an admin's adjustment (+/-) of an earlier entry
    REVOCATION = "revocation"  # an admin's withdrawal of an earlier entry (its hours negated)


class LedgerEntry(db.Model):
    """One row of a cadre's 学时 ledger. Never updated or deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("user_id", "reference", name="uq_ledger_entries_user_reference"),
        Index("ix_ledger_entries_user_year", "user_id", "year"),
        # A period's raw rows, one cadre's or everyone's (reports; PostgreSQL reads them from the index).
        Index(
            "ix_ledger_entries_user_created",
            "user_id",
            "created_at",
            postgresql_include=["hours", "use", "source_kind", "category_id"],
        ),
        Index(
            "ix_ledger_entries_created_at",
            "created_at",
            postgresql_include=["user_id", "hours", "use", "source_kind", "category_id"],
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)  # at the time of credit
    year: Mapped[int] = mapped_column(Integer)
    hours: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    kind: Mapped[EntryKind] = mapped_column(String(16), default=EntryKind.CREDIT)
    source_kind: Mapped[SourceKind] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    use: Mapped[str] = mapped_column(String(16))  # required | elective
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    # Idempotency key: completing a course twice credits it once ("course:12"; corrections get their own).
    reference: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(300), default="")
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TargetRule(db.Model):
    """A yearly 学时 target for cadres of a rank and/or category under an org (most specific wins)."""

    __tablename__ = "target_rules"

    id: Mapped[intpk]
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # None: everywhere
    rank: Mapped[str | None] = mapped_column(String(32))  # None: any rank
    cadre_category: Mapped[str | None] = mapped_column(String(32))  # None: any category
    hours_per_year: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    window_years: Mapped[int] = mapped_column(Integer, default=1)  # 5: "550 in 5 years"
    required_hours: Mapped[Decimal] = mapped_column(Numeric(7, 2), default=Decimal("0"))  # 必修 share
    label: Mapped[str] = mapped_column(String(120), default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CourseEnrollment(db.Model):
    """A course in a cadre's "my courses": selected as an elective (选课), or started by studying it."""

    __tablename__ = "course_enrollments"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="elective")  # elective | studied
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
