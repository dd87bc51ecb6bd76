from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import UTCDateTime, db, intpk, utcnow


class SearchOutbox(db.Model):
    """A course whose search document must be refreshed, written in the same transaction as the change.

    The sync task reads the course as it is *now* and writes it at the course's version, so the order
    in which rows are applied does not matter and a stale write never wins."""

    __tablename__ = "search_outbox"

    id: Mapped[intpk]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
