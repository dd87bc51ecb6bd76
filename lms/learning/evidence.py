"""What admins inspect before trusting (or revoking) online credits: a cadre's credits, their playback
sessions and every heartbeat as it was judged, and a queue of learners whose evidence looks wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, case, cast, func, or_, select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import AdminScope
from lms.core.db import db
from lms.core.errors import NotFound
from lms.core.pagination import Page
from lms.learning.models import HeartbeatRecord, LedgerEntry, PlaybackSession

MAX_ID = 2**31 - 1
# Thresholds of the review queue (over the period looked at)
MANY_REJECTED = 20  # rejected heartbeats
REJECTED_SHARE = 0.3  # of all heartbeats
CHALLENGES_FAILED = 2  # presence checks not answered
SUPERSEDED = 10  # sessions ended by another playback (tab/device juggling)


def _in_scope(scope: AdminScope):  # type: ignore[no-untyped-def]
    paths = scope.sql_paths
    if paths is None:
        return None
    return or_(*(Organization.path.startswith(p, autoescape=True) for p in paths)) if paths else False


def get_cadre(actor_scope: AdminScope, user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None or not actor_scope.covers_path(user.org.path):
        raise NotFound()
    return user


def credits_of(user: User) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user.id)
            .order_by(LedgerEntry.id.desc())
            .limit(500)
        )
    )


def sessions_of(user: User, *, page: int = 1, per_page: int = 20) -> Page:
    stmt = (
        select(PlaybackSession).where(PlaybackSession.user_id == user.id).order_by(PlaybackSession.id.desc())
    )
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), total, page, per_page)


def heartbeats_of(scope: AdminScope, public_id: str) -> tuple[PlaybackSession, list[HeartbeatRecord]]:
    session = db.session.scalar(select(PlaybackSession).where(PlaybackSession.public_id == public_id[:32]))
    if session is None:
        raise NotFound()
    get_cadre(scope, session.user_id)
    rows = db.session.scalars(
        select(HeartbeatRecord)
        .where(HeartbeatRecord.session_id == session.id)
        .order_by(HeartbeatRecord.id)
        .limit(2000)
    )
    return session, list(rows)


@dataclass(frozen=True)
class Suspect:
    user: User
    sessions: int
    heartbeats: int
    rejected: int
    challenges_failed: int
    superseded: int
    credited_s: float

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.rejected >= MANY_REJECTED:
            flags.append("many_rejected")
        if self.heartbeats and self.rejected / self.heartbeats > REJECTED_SHARE:
            flags.append("rejected_share")
        if self.challenges_failed >= CHALLENGES_FAILED:
            flags.append("presence_checks_failed")
        if self.superseded >= SUPERSEDED:
            flags.append("many_parallel_playbacks")
        return flags


def suspicious_learners(scope: AdminScope, *, since: datetime, limit: int = 100) -> list[Suspect]:
    """Learners in the admin's subtree whose playback evidence since ``since`` crosses a threshold,
    worst first."""
    superseded = func.sum(cast(case((PlaybackSession.ended_reason == "superseded", 1), else_=0), Integer))
    stmt = (
        select(
            PlaybackSession.user_id,
            func.count(PlaybackSession.id),
            func.sum(PlaybackSession.heartbeats),
            func.sum(PlaybackSession.rejected),
            func.sum(PlaybackSession.challenges_failed),
            superseded,
            func.sum(PlaybackSession.credited_s),
        )
        .join(User, User.id == PlaybackSession.user_id)
        .join(Organization, Organization.id == User.org_id)
        .where(PlaybackSession.started_at >= since)
        .group_by(PlaybackSession.user_id)
        .having(
            or_(
                func.sum(PlaybackSession.rejected) >= MANY_REJECTED,
                func.sum(PlaybackSession.rejected) > func.sum(PlaybackSession.heartbeats) * REJECTED_SHARE,
                func.sum(PlaybackSession.challenges_failed) >= CHALLENGES_FAILED,
                superseded >= SUPERSEDED,
            )
        )
        .order_by(func.sum(PlaybackSession.rejected).desc())
        .limit(limit)
    )
    condition = _in_scope(scope)
    if condition is not None:
        stmt = stmt.where(condition)
    rows = db.session.execute(stmt).all()
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([r[0] for r in rows])))}
    return [
        Suspect(
            user=users[user_id],
            sessions=int(sessions),
            heartbeats=int(beats or 0),
            rejected=int(rejected or 0),
            challenges_failed=int(failed or 0),
            superseded=int(replaced or 0),
            credited_s=float(credited or 0),
        )
        for user_id, sessions, beats, rejected, failed, replaced, credited in rows
    ]
