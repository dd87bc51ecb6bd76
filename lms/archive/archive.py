"""Build a cadre's training archive (培训档案): every year's 学时 ledger rows (credits, corrections and
revocations with their reasons) and totals, the tests taken (the attempt that counts per test) and the
certificates earned (completed courses and passed tests), newest year first.

Read-only: it only reads the ledger and the attempts; the page, the PDF and the .xlsx all render the
same ``Archive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from lms.accounts.models import User
from lms.accounts.permissions import admin_scope
from lms.catalog.models import Category
from lms.core.db import db
from lms.core.errors import NotFound
from lms.core.i18n import N_
from lms.exams.models import Attempt, AttemptStatus, Exam
from lms.learning.credits import CHINA, year_of
from lms.learning.models import EntryKind, LedgerEntry, SourceKind

ZERO = Decimal("0")

SOURCE_LABELS = {
    SourceKind.ONLINE_COURSE: N_("Online course"),
    SourceKind.TEST: N_("Test credit"),
    SourceKind.CLASS: N_("Training class"),
    SourceKind.OFFLINE_CLAIM: N_("Offline learning"),
}
KIND_LABELS = {
    EntryKind.CREDIT: N_("Credit"),
    EntryKind.CORRECTION: N_("Correction"),
    EntryKind.REVOCATION: N_("Revocation"),
}
USE_LABELS = {"required": N_("Required"), "elective": N_("Elective")}
OTHER_CATEGORY = N_("Other category")
# Ledger credits that stand for a completed course (a passed test has its own certificate).
COURSE_SOURCES = (SourceKind.ONLINE_COURSE, SourceKind.CLASS)


@dataclass(frozen=True)
class ArchiveEntry:
    id: int
    year: int
    created_at: datetime
    kind: str
    source_kind: str
    use: str
    category: str | None  # None: no category ("Other")
    title: str
    hours: Decimal
    reason: str
    corrects_id: int | None
    revoked: bool  # a credit withdrawn later by a revocation


@dataclass(frozen=True)
class ArchiveAttempt:
    attempt_id: int
    exam_id: int
    exam_title: str
    year: int
    number: int
    attempts: int  # graded attempts of this test
    score: Decimal
    max_score: Decimal
    passed: bool
    submitted_at: datetime | None


@dataclass(frozen=True)
class Certificate:
    number: str
    year: int
    kind: str  # "course" | "test"
    title: str
    issued_at: datetime
    hours: Decimal | None
    score: Decimal | None
    max_score: Decimal | None


@dataclass
class ArchiveYear:
    year: int
    entries: list[ArchiveEntry] = field(default_factory=list)
    attempts: list[ArchiveAttempt] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    total: Decimal = ZERO
    required: Decimal = ZERO
    elective: Decimal = ZERO
    by_source: dict[str, Decimal] = field(default_factory=dict)  # SourceKind value → hours
    by_category: dict[str | None, Decimal] = field(default_factory=dict)  # name (None: other) → hours


@dataclass(frozen=True)
class Archive:
    user_id: int
    name: str
    login_name: str
    org_name: str
    generated_at: datetime
    years: list[ArchiveYear]

    @property
    def total(self) -> Decimal:
        return sum((y.total for y in self.years), ZERO)

    @property
    def certificates(self) -> list[Certificate]:
        return [c for y in self.years for c in y.certificates]

    @property
    def attempts(self) -> list[ArchiveAttempt]:
        return [a for y in self.years for a in y.attempts]


def certificate_number(year: int, user_id: int, ledger_id: int) -> str:
    """A completed course's certificate: the credit's year, the cadre and the ledger row."""
    return f"{year}-{user_id:06d}-{ledger_id:06d}"


def exam_certificate_number(year: int, user_id: int, exam_id: int) -> str:
    """A passed test's certificate: stable per cadre and test ("E" keeps it apart from ledger ids)."""
    return f"{year}-{user_id:06d}-E{exam_id:06d}"


def _local(moment: datetime) -> datetime:
    return moment.astimezone(CHINA)


def _counted_attempts(user_id: int) -> list[tuple[Attempt, Exam, int]]:
    """Per test, the graded attempt that counts (highest score, or the last one, per the test's rule),
    with how many graded attempts the cadre made."""
    rows = db.session.execute(
        select(Attempt, Exam)
        .join(Exam, Exam.id == Attempt.exam_id)
        .where(Attempt.user_id == user_id, Attempt.status == AttemptStatus.GRADED)
        .order_by(Attempt.exam_id, Attempt.number)
    ).all()
    counted: dict[int, tuple[Attempt, Exam, int]] = {}
    for attempt, exam in rows:
        held = counted.get(exam.id)
        if held is None:
            counted[exam.id] = (attempt, exam, 1)
            continue
        best, _, count = held
        if exam.grading == "last" or (attempt.score or 0) > (best.score or 0):
            best = attempt
        counted[exam.id] = (best, exam, count + 1)
    return list(counted.values())


def build_archive(user: User, *, now: datetime) -> Archive:
    names = dict(db.session.execute(select(Category.id, Category.name)).all())
    ledger = list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user.id)
            .order_by(LedgerEntry.year.desc(), LedgerEntry.created_at, LedgerEntry.id)
        )
    )
    revoked = {e.corrects_id for e in ledger if e.kind == EntryKind.REVOCATION and e.corrects_id}
    years: dict[int, ArchiveYear] = {}

    def year(number: int) -> ArchiveYear:
        return years.setdefault(number, ArchiveYear(year=number))

    for row in ledger:
        hours = Decimal(row.hours)
        category = names.get(row.category_id) if row.category_id else None
        item = ArchiveEntry(
            id=row.id,
            year=row.year,
            created_at=_local(row.created_at),
            kind=str(row.kind),
            source_kind=str(row.source_kind),
            use=row.use,
            category=category,
            title=row.title,
            hours=hours,
            reason=row.reason,
            corrects_id=row.corrects_id,
            revoked=row.id in revoked,
        )
        bucket = year(row.year)
        bucket.entries.append(item)
        bucket.total += hours
        if row.use == "required":
            bucket.required += hours
        else:
            bucket.elective += hours
        bucket.by_source[item.source_kind] = bucket.by_source.get(item.source_kind, ZERO) + hours
        bucket.by_category[category] = bucket.by_category.get(category, ZERO) + hours
        if (
            row.kind == EntryKind.CREDIT
            and row.source_kind in COURSE_SOURCES
            and row.id not in revoked
            and hours > 0
        ):
            bucket.certificates.append(
                Certificate(
                    number=certificate_number(row.year, user.id, row.id),
                    year=row.year,
                    kind="course",
                    title=row.title,
                    issued_at=item.created_at,
                    hours=hours,
                    score=None,
                    max_score=None,
                )
            )

    for attempt, exam, count in _counted_attempts(user.id):
        when = attempt.submitted_at or attempt.started_at
        number = year_of(when)
        done = ArchiveAttempt(
            attempt_id=attempt.id,
            exam_id=exam.id,
            exam_title=exam.title,
            year=number,
            number=attempt.number,
            attempts=count,
            score=Decimal(attempt.score or 0),
            max_score=Decimal(attempt.max_score),
            passed=bool(attempt.passed),
            submitted_at=_local(attempt.submitted_at) if attempt.submitted_at else None,
        )
        bucket = year(number)
        bucket.attempts.append(done)
        if done.passed:
            bucket.certificates.append(
                Certificate(
                    number=exam_certificate_number(number, user.id, exam.id),
                    year=number,
                    kind="test",
                    title=exam.title,
                    issued_at=_local(when),
                    hours=None,
                    score=done.score,
                    max_score=done.max_score,
                )
            )

    ordered = [years[n] for n in sorted(years, reverse=True)]
    for bucket in ordered:
        bucket.attempts.sort(key=lambda a: (a.submitted_at or now, a.attempt_id))
        bucket.certificates.sort(key=lambda c: (c.issued_at, c.number))
        bucket.by_source = dict(sorted(bucket.by_source.items(), key=lambda kv: -kv[1]))
        bucket.by_category = dict(sorted(bucket.by_category.items(), key=lambda kv: (kv[0] is None, -kv[1])))
    return Archive(
        user_id=user.id,
        name=user.display_name,
        login_name=user.login_name,
        org_name=user.org.name,
        generated_at=_local(now),
        years=ordered,
    )


def archive_owner(actor: User, user_id: int | None) -> User:
    """Whose archive ``actor`` may see: their own (``user_id`` None or theirs), or — for an admin — a
    cadre in a subtree they administer. Anything else is "not found" (no hint that the cadre exists)."""
    if user_id is None or user_id == actor.id:
        return actor
    user = db.session.get(User, user_id)
    if user is None or not admin_scope(actor).covers_path(user.org.path):
        raise NotFound()
    return user
