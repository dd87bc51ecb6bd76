"""What the reports keep of their own: summaries of the 学时 ledger, and the 学习排行 switch.

``ledger_month_totals`` (per cadre and calendar month, ``month`` = YYYYMM in Asia/Shanghai) and
``ledger_year_totals`` (per cadre and calendar year) hold the sums of the cadre's ledger rows in
**centi-hours** (学时 x 100: whole numbers, exact on every backend and fast to sum on PostgreSQL): net
total, 必修 part, by source kind and by top-level category. Row triggers on ``ledger_entries`` (migration
``r7summary001``) keep them in the same transaction as every ledger write, whoever writes (the credits,
corrections and revocations of ``lms.learning.credits``, offline-claim approvals, exam passes, bulk
loads), with ``INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x`` so concurrent writes add up.
``flask reports rebuild-summary`` recomputes both from the ledger; ``flask reports check-summary`` compares.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, PrimaryKeyConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import UTCDateTime, db, utcnow

# (column, what it sums) in the order the triggers and the rebuild write them.
SUMMARY_COLUMNS = (
    "total",
    "required",
    "src_online_course",
    "src_test",
    "src_class",
    "src_offline_claim",
    "cat_theory",
    "cat_party",
    "cat_professional",
    "cat_knowledge",
    "cat_other",
)


class _Sums:
    """The summed columns (centi-hours) both grains share; the key is (user_id, month or year)."""

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    entries: Mapped[int] = mapped_column(Integer, default=0)  # ledger rows summed here
    total: Mapped[int] = mapped_column(Integer, default=0)
    required: Mapped[int] = mapped_column(Integer, default=0)
    src_online_course: Mapped[int] = mapped_column(Integer, default=0)
    src_test: Mapped[int] = mapped_column(Integer, default=0)
    src_class: Mapped[int] = mapped_column(Integer, default=0)
    src_offline_claim: Mapped[int] = mapped_column(Integer, default=0)
    cat_theory: Mapped[int] = mapped_column(Integer, default=0)
    cat_party: Mapped[int] = mapped_column(Integer, default=0)
    cat_professional: Mapped[int] = mapped_column(Integer, default=0)
    cat_knowledge: Mapped[int] = mapped_column(Integer, default=0)
    cat_other: Mapped[int] = mapped_column(Integer, default=0)


class LedgerMonthTotal(_Sums, db.Model):
    """One cadre's ledger in one month, summed. Derived: never edit by hand."""

    __tablename__ = "ledger_month_totals"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "month"),
        Index("ix_ledger_month_totals_month", "month"),  # one month for everyone
    )

    month: Mapped[int] = mapped_column(Integer)  # YYYYMM in Asia/Shanghai


class LedgerYearTotal(_Sums, db.Model):
    """One cadre's ledger in one calendar year (Asia/Shanghai), summed: the sum of its months."""

    __tablename__ = "ledger_year_totals"
    __table_args__ = (PrimaryKeyConstraint("user_id", "year"),)

    year: Mapped[int] = mapped_column(Integer)


class LeaderboardSetting(db.Model):
    """学习排行 on or off for an org's subtree (the nearest ancestor with a row decides; none: on)."""

    __tablename__ = "leaderboard_settings"

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
