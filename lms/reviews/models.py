"""Offline training claims (线下学时登记), their append-only review steps, evidence files and the approval
authority of each org level.

A claim waits at ``current_org_id``: the admins whose scope covers that org act on it. Each admin may
approve up to the limit of the level (org kind) of their own grant (``claim_authority``); above it they
forward the claim to the parent of their org. An approved claim becomes one ledger row ``claim:<id>``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import UTCDateTime, db, intpk, utcnow


class ClaimStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # waiting at the cadre's own org
    FORWARDED = "forwarded"  # waiting at an org further up the tree
    APPROVED = "approved"
    REJECTED = "rejected"


PENDING = (ClaimStatus.SUBMITTED, ClaimStatus.FORWARDED)


class StepAction(enum.StrEnum):
    SUBMITTED = "submitted"
    FORWARDED = "forwarded"
    APPROVED = "approved"
    REJECTED = "rejected"


class OfflineClaim(db.Model):
    """A cadre's claim for the hours of an offline training."""

    __tablename__ = "offline_claims"
    __table_args__ = (Index("ix_offline_claims_current_org_status", "current_org_id", "status"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id"), index=True
    )  # the cadre's, at submission
    current_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # whose admins act now
    status: Mapped[ClaimStatus] = mapped_column(String(16), default=ClaimStatus.SUBMITTED)
    title: Mapped[str] = mapped_column(String(200))
    organizer: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    use: Mapped[str] = mapped_column(String(16), default="elective")  # required | elective
    note: Mapped[str] = mapped_column(String(1000), default="")
    decision_reason: Mapped[str] = mapped_column(String(300), default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING


class ClaimStep(db.Model):
    """One step of a claim's review: who did what, from which org to which, when. Never updated."""

    __tablename__ = "claim_steps"

    id: Mapped[intpk]
    claim_id: Mapped[int] = mapped_column(ForeignKey("offline_claims.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[StepAction] = mapped_column(String(16))
    from_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    to_org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClaimEvidence(db.Model):
    """An evidence file (PDF, JPEG or PNG) in the object store under ``claims/<claim id>/…``."""

    __tablename__ = "claim_evidence"

    id: Mapped[intpk]
    claim_id: Mapped[int] = mapped_column(ForeignKey("offline_claims.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClaimAuthority(db.Model):
    """The most hours an admin granted at an org of this kind may approve on one claim (None: no limit)."""

    __tablename__ = "claim_authority"

    org_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    max_hours: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
