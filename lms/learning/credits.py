"""The 学时 ledger: course completion credits, admins' corrections and revocations, yearly totals.

Crediting is idempotent: each credit has a ``reference`` unique per user ("course:12"), inserted with
ON CONFLICT DO NOTHING, so completing a course twice — or two requests racing — credits it once.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lms.accounts.models import Organization, User
from lms.accounts.permissions import admin_scope
from lms.audit.services import record
from lms.catalog.models import Course, CourseUse, CreditRule, Lesson
from lms.core.db import db
from lms.core.errors import InvalidState, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.learning.models import EntryKind, LedgerEntry, LessonProgress, SourceKind
from lms.learning.rules import minutes_to_hours
from lms.settings import Settings

CHINA = ZoneInfo("Asia/Shanghai")
TWO_PLACES = Decimal("0.01")


def year_of(moment: datetime) -> int:
    return moment.astimezone(CHINA).year


def _insert_once(values: dict[str, object]) -> bool:
    dialect = db.session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(LedgerEntry).values(**values)
    result = db.session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id", "reference"]))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _media_lessons(course_id: int) -> list[Lesson]:
    return list(
        db.session.scalars(
            select(Lesson).where(
                Lesson.course_id == course_id, Lesson.is_active, Lesson.media_asset_id.is_not(None)
            )
        )
    )


def _online_hours_on(user_id: int, moment: datetime) -> Decimal:
    local = moment.astimezone(CHINA)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.hours), 0)).where(
            LedgerEntry.user_id == user_id,
            LedgerEntry.source_kind == SourceKind.ONLINE_COURSE,
            LedgerEntry.kind == EntryKind.CREDIT,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < start + timedelta(days=1),
        )
    )
    return Decimal(str(total or 0))


# Further conditions a course's completion waits for, registered by the domains above this one (the
# exams domain: "the course test is passed"). Each gets (user_id, course_id) and says whether it holds.
COMPLETION_GATES: list[Callable[[int, int], bool]] = []


def maybe_complete_course(*, user: User, course: Course, now: datetime, settings: Settings) -> bool:
    """Credit the course's hours once every lesson with media is complete (and every registered gate
    holds, e.g. its required test is passed). True if credited now."""
    lessons = _media_lessons(course.id)
    if not lessons or course.published_revision is None:
        return False
    if not all(gate(user.id, course.id) for gate in COMPLETION_GATES):
        return False
    done = db.session.execute(
        select(LessonProgress.lesson_id, LessonProgress.covered_s).where(
            LessonProgress.user_id == user.id,
            LessonProgress.lesson_id.in_([lesson.id for lesson in lessons]),
            LessonProgress.completed_at.is_not(None),
        )
    ).all()
    if len(done) < len(lessons):
        return False
    revision = course.published_revision
    if revision.credit_rule == CreditRule.PER_MINUTE:
        hours = minutes_to_hours(sum(covered for _, covered in done), revision.minutes_per_hour)
    else:
        hours = Decimal(revision.hours).quantize(TWO_PLACES)
    reason = ""
    if settings.daily_cap_hours:
        room = max(Decimal("0"), Decimal(settings.daily_cap_hours) - _online_hours_on(user.id, now))
        if hours > room:
            reason = f"每日网络学习上限 {settings.daily_cap_hours} 学时：本次计入 {room} 学时（应得 {hours}）"
            hours = room.quantize(TWO_PLACES, rounding=ROUND_DOWN)
    return _insert_once(
        {
            "user_id": user.id,
            "org_id": user.org_id,
            "year": year_of(now),
            "hours": hours,
            "kind": EntryKind.CREDIT,
            "source_kind": SourceKind.ONLINE_COURSE,
            "category_id": revision.category_id,
            "use": "required" if revision.use == CourseUse.REQUIRED else "elective",
            "course_id": course.id,
            "title": revision.title,
            "reference": f"course:{course.id}",
            "reason": reason,
            "created_at": now,
        }
    )


# ----------------------------------------------------------------------------------------------------
# Admins: corrections and revocations (new rows, never edits; audited)


def _user_org_path(user: User) -> str:
    return db.session.scalar(select(Organization.path).where(Organization.id == user.org_id)) or ""


def get_entry_for_admin(actor: User, entry_id: int) -> tuple[LedgerEntry, User]:
    entry = db.session.get(LedgerEntry, entry_id) if 0 < entry_id <= 2**31 - 1 else None
    owner = db.session.get(User, entry.user_id) if entry else None
    if entry is None or owner is None or not admin_scope(actor).covers_path(_user_org_path(owner)):
        raise NotFound()
    return entry, owner


def _balance(entry: LedgerEntry) -> Decimal:
    corrections = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.hours), 0)).where(LedgerEntry.corrects_id == entry.id)
    )
    return Decimal(entry.hours) + Decimal(str(corrections or 0))


def _reason(reason: str) -> str:
    text = reason.strip()[:300]
    if not text:
        raise ValidationFailed(fields={"reason": N_("Give a reason; the cadre and auditors will see it.")})
    return text


def revoke_entry(*, actor: User, entry: LedgerEntry, owner: User, reason: str, now: datetime) -> LedgerEntry:
    """Withdraw what is left of a credit: a new row with the negated balance."""
    text = _reason(reason)
    if entry.kind != EntryKind.CREDIT:
        raise InvalidState(N_("Only a credit can be revoked; correct it instead."))
    balance = _balance(entry)
    if balance == 0:
        raise InvalidState(N_("This credit has already been revoked."))
    row = _adjustment(actor, entry, owner, -balance, text, EntryKind.REVOCATION, now)
    return row


def correct_entry(
    *, actor: User, entry: LedgerEntry, owner: User, delta: object, reason: str, now: datetime
) -> LedgerEntry:
    """Adjust a credit by ``delta`` 学时 (positive or negative; never below zero in total)."""
    text = _reason(reason)
    try:
        change = Decimal(str(delta)).quantize(TWO_PLACES)
    except ArithmeticError as error:
        raise ValidationFailed(fields={"hours": N_("Must be a number.")}) from error
    if change == 0 or abs(change) > 200 or _balance(entry) + change < 0:
        raise ValidationFailed(
            fields={"hours": N_("The correction must be non-zero and keep the credit at 0 or more.")}
        )
    return _adjustment(actor, entry, owner, change, text, EntryKind.CORRECTION, now)


def _adjustment(
    actor: User, entry: LedgerEntry, owner: User, hours: Decimal, reason: str, kind: EntryKind, now: datetime
) -> LedgerEntry:
    row = LedgerEntry(
        user_id=entry.user_id,
        org_id=entry.org_id,
        year=entry.year,
        hours=hours,
        kind=kind,
        source_kind=entry.source_kind,
        category_id=entry.category_id,
        use=entry.use,
        course_id=entry.course_id,
        title=entry.title,
        reference=f"{kind}:{entry.id}:{secrets.token_hex(6)}",
        reason=reason,
        corrects_id=entry.id,
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    record(
        actor=actor,
        action=f"ledger.{kind}",
        target_type="ledger_entry",
        target_id=entry.id,
        target_label=f"{owner.display_name} · {entry.title}",
        org_path=_user_org_path(owner),
        before={"hours": str(_balance(entry) - hours)},
        after={"hours": str(_balance(entry)), "reason": reason},
    )
    return row


# ----------------------------------------------------------------------------------------------------
# A cadre's year


@dataclass
class YearTotals:
    year: int
    total: Decimal = Decimal("0")
    required: Decimal = Decimal("0")
    elective: Decimal = Decimal("0")
    by_category: dict[int | None, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    by_source: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def year_totals(user_id: int, year: int) -> YearTotals:
    totals = YearTotals(year=year)
    rows = db.session.execute(
        select(LedgerEntry.use, LedgerEntry.category_id, LedgerEntry.source_kind, func.sum(LedgerEntry.hours))
        .where(LedgerEntry.user_id == user_id, LedgerEntry.year == year)
        .group_by(LedgerEntry.use, LedgerEntry.category_id, LedgerEntry.source_kind)
    ).all()
    for use, category_id, source, hours in rows:
        amount = Decimal(str(hours or 0))
        totals.total += amount
        if use == "required":
            totals.required += amount
        else:
            totals.elective += amount
        totals.by_category[category_id] += amount
        totals.by_source[str(source)] += amount
    return totals


def recent_entries(user_id: int, year: int, limit: int = 10) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user_id, LedgerEntry.year == year)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
    )
