"""Declarative base with a naming convention, shared column types and mixins."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import DateTime, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


AFTER_COMMIT = "lms_after_commit"
log = logging.getLogger(__name__)


class Session(FlaskSession):
    """Runs the callbacks registered with ``lms.core.tasks.call_after_commit`` once ``commit()`` has
    returned, outside SQLAlchemy's commit events, so they may use the database (an eager task does).
    A failing callback is logged, not raised: the change is committed, and whatever the callback was
    to start must be recoverable from the database (an outbox), never lost with it."""

    def commit(self) -> None:
        super().commit()
        for callback in self.info.pop(AFTER_COMMIT, []):
            try:
                callback()
            except Exception:  # the commit stands; the work waits in the database for a retry
                log.exception("after-commit callback %r failed", callback)


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})

intpk = Annotated[int, mapped_column(primary_key=True)]
str64 = Annotated[str, mapped_column(String(64))]
str200 = Annotated[str, mapped_column(String(200))]
utc_datetime = Annotated[datetime, mapped_column(UTCDateTime())]


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def insert_ignoring_conflicts(model: type[Base]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's database (PostgreSQL or SQLite): the race-free
    way to create a row that two requests may create at once."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return insert(model).on_conflict_do_nothing()
