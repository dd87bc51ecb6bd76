"""Playback sessions and heartbeats: the rules engine (``rules.py``) wrapped in locks and evidence.

Concurrency: a heartbeat locks its session row (``SELECT … FOR UPDATE``) and then the user's lesson
progress row, so heartbeats of one session are applied one at a time and a sequence number can credit
once. Starting a playback locks the user's lease row, then the previous session, and ends it. The lock
order (lease → session → progress) is the same everywhere, so these never deadlock.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from lms.accounts.models import User
from lms.catalog.models import Course, Lesson
from lms.core.db import db, insert_ignoring_conflicts
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.learning import rules
from lms.learning.credits import maybe_complete_course
from lms.learning.models import HeartbeatRecord, LessonProgress, PlaybackLease, PlaybackSession, SessionStatus
from lms.media.models import AssetKind, MediaAsset
from lms.settings import Settings

_SYSTEM_RANDOM = random.SystemRandom()


def policy_from(
    settings: Settings, *, audio: bool = False, no_seek_ahead: bool = False
) -> rules.CreditPolicy:
    interval = settings.heartbeat_interval_s
    challenges = settings.challenge_min_minutes > 0 and settings.challenge_max_minutes > 0
    return rules.CreditPolicy(
        max_rate=settings.playback_max_rate_percent / 100,
        heartbeat_interval_s=interval,
        max_credit_per_heartbeat_s=2.0 * interval,
        hidden_grace_s=math.inf if audio else 10.0,  # an audio lesson plays on with the screen off
        completion_share=settings.completion_percent / 100,
        no_seek_ahead=no_seek_ahead,
        challenges_enabled=challenges,
        # (0 minutes turns presence checks off; the interval must still be a valid number)
        challenge_min_interval_s=max(1, settings.challenge_min_minutes) * 60.0,
        challenge_max_interval_s=max(1, settings.challenge_min_minutes, settings.challenge_max_minutes)
        * 60.0,
    )


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ----------------------------------------------------------------------------------------------------
# State <-> JSON


def dump_state(state: rules.SessionState) -> dict[str, Any]:
    data = asdict(state)
    data["covered"] = [list(i) for i in state.covered]
    data["ended"] = str(state.ended) if state.ended else None
    if data["duration_s"] is not None and not math.isfinite(data["duration_s"]):
        data["duration_s"] = 0.0
    return data


def load_state(data: dict[str, Any]) -> rules.SessionState:
    challenge = data.get("challenge")
    return rules.SessionState(
        started_at=data["started_at"],
        last_seq=data["last_seq"],
        last_accepted_at=data["last_accepted_at"],
        credited_s=data["credited_s"],
        hidden_since=data["hidden_since"],
        next_challenge_at=data["next_challenge_at"],
        challenge=rules.PendingChallenge(**challenge) if challenge else None,
        duration_s=data["duration_s"],
        covered=tuple((float(a), float(b)) for a, b in data["covered"]),
        ended=rules.Reason(data["ended"]) if data.get("ended") else None,
    )


# ----------------------------------------------------------------------------------------------------
# Rows created race-free


def _lease(user_id: int) -> PlaybackLease:
    db.session.execute(insert_ignoring_conflicts(PlaybackLease).values(user_id=user_id))
    lease = db.session.scalar(select(PlaybackLease).where(PlaybackLease.user_id == user_id).with_for_update())
    assert lease is not None
    return lease


def progress_row(user_id: int, lesson: Lesson) -> LessonProgress:
    db.session.execute(
        insert_ignoring_conflicts(LessonProgress).values(
            user_id=user_id, lesson_id=lesson.id, course_id=lesson.course_id, covered=[]
        )
    )
    row = db.session.scalar(
        select(LessonProgress)
        .where(LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson.id)
        .with_for_update()
    )
    assert row is not None
    return row


# ----------------------------------------------------------------------------------------------------
# Starting


@dataclass(frozen=True)
class Started:
    session: PlaybackSession
    resume_position_s: float
    duration_s: float


def start_playback(
    *,
    actor: User,
    lesson: Lesson,
    asset: MediaAsset,
    settings: Settings,
    now: float,
    client_ip: str = "",
    user_agent: str = "",
) -> Started:
    """Open a session for ``lesson``; the user's previous session (any lesson, tab or device) ends."""
    lease = _lease(actor.id)
    if lease.session_id is not None:
        previous = db.session.scalar(
            select(PlaybackSession).where(PlaybackSession.id == lease.session_id).with_for_update()
        )
        if previous is not None and previous.status == SessionStatus.ACTIVE:
            _end(previous, rules.end_session(load_state(previous.state), rules.Reason.SUPERSEDED), now)
    progress = progress_row(actor.id, lesson)
    audio, no_seek = asset.kind == AssetKind.AUDIO, _no_seek(lesson)
    policy = policy_from(settings, audio=audio, no_seek_ahead=no_seek)
    duration = float(asset.duration_s or lesson.duration_s or 0)
    state = rules.new_session(now, duration, progress.covered, policy, _SYSTEM_RANDOM)
    session = PlaybackSession(
        public_id=secrets.token_urlsafe(18),
        user_id=actor.id,
        lesson_id=lesson.id,
        course_id=lesson.course_id,
        status=SessionStatus.ACTIVE,
        started_at=_dt(now),
        state=dump_state(state) | {"audio": audio, "no_seek_ahead": no_seek},
        client_ip=client_ip[:64],
        user_agent=user_agent[:300],
    )
    db.session.add(session)
    db.session.flush()
    lease.session_id = session.id
    lease.updated_at = _dt(now)
    resume = progress.position_s if 0 < progress.position_s < duration - 5 else 0.0
    return Started(session=session, resume_position_s=round(resume, 1), duration_s=duration)


def _no_seek(lesson: Lesson) -> bool:
    course = db.session.get(Course, lesson.course_id)
    return bool(course and course.published_revision and course.published_revision.no_seek_ahead)


def _end(session: PlaybackSession, state: rules.SessionState, now: float) -> None:
    session.status = SessionStatus.ENDED
    session.ended_reason = str(state.ended or rules.Reason.ENDED)
    session.ended_at = _dt(now)
    session.state = dump_state(state)


# ----------------------------------------------------------------------------------------------------
# Heartbeats


def parse_heartbeat(data: dict[str, Any]) -> rules.Heartbeat:
    """JSON types only; values (negative, NaN, too many ranges) are judged by the rules engine."""

    def number(name: str, default: float | None = None) -> float:
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(fields={name: N_("Must be a number.")})
        return float(value)

    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValidationFailed(fields={"seq": N_("Must be a whole number.")})
    raw_ranges = data.get("ranges", [])
    if not isinstance(raw_ranges, list) or len(raw_ranges) > 200:
        raise ValidationFailed(fields={"ranges": N_("Must be a list of [start, end] pairs.")})
    ranges = []
    for item in raw_ranges:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        ):
            raise ValidationFailed(fields={"ranges": N_("Must be a list of [start, end] pairs.")})
        ranges.append((float(item[0]), float(item[1])))
    answer = data.get("challenge_answer")
    challenge_id = challenge_answer = None
    if isinstance(answer, dict):
        challenge_id = str(answer.get("id") or "")[:64] or None
        challenge_answer = str(answer.get("answer") or "")[:64] or None
    visible = data.get("visible", True)
    return rules.Heartbeat(
        seq=seq,
        position_s=number("position_s", 0.0),
        ranges=tuple(ranges),
        rate=number("rate", 1.0),
        visible=bool(visible) if isinstance(visible, bool) else True,
        challenge_id=challenge_id,
        challenge_answer=challenge_answer,
    )


@dataclass(frozen=True)
class HeartbeatResult:
    accepted: bool
    reason: str | None
    ended: bool
    accepted_s: float
    covered_s: float
    duration_s: float
    percent: int
    completed: bool
    challenge: dict[str, Any] | None
    course_completed: bool = False
    covered: tuple[tuple[float, float], ...] = ()


def get_session(actor: User, public_id: str) -> PlaybackSession:
    session = db.session.scalar(
        select(PlaybackSession).where(PlaybackSession.public_id == public_id[:32]).with_for_update()
    )
    if session is None or session.user_id != actor.id:
        raise NotFound()
    return session


def heartbeat(
    *, actor: User, session: PlaybackSession, hb: rules.Heartbeat, settings: Settings, now: float
) -> HeartbeatResult:
    """Judge one heartbeat of a locked session; always leaves an evidence row (the caller commits).
    The hot path: the session row, the progress row and the evidence insert, nothing else (the policy's
    per-lesson flags were stored with the session when it started)."""
    stored = session.state
    policy = policy_from(
        settings, audio=bool(stored.get("audio")), no_seek_ahead=bool(stored.get("no_seek_ahead"))
    )
    progress = db.session.scalar(
        select(LessonProgress)
        .where(LessonProgress.user_id == actor.id, LessonProgress.lesson_id == session.lesson_id)
        .with_for_update()
    )
    if progress is None:  # started before progress rows existed for it: create it now
        lesson = db.session.get(Lesson, session.lesson_id)
        assert lesson is not None
        progress = progress_row(actor.id, lesson)
    state = replace(load_state(stored), covered=tuple((a, b) for a, b in progress.covered))
    decision = rules.evaluate(state, hb, now, policy)
    new_state = decision.state
    challenge_issued = False
    if decision.challenge_passed:
        next_at = now + rules.next_challenge_delay(_SYSTEM_RANDOM, policy)
        new_state = replace(new_state, next_challenge_at=next_at)
        session.challenge = None
    if decision.issue_challenge and not decision.ends_session:
        challenge = rules.make_challenge(_SYSTEM_RANDOM)
        new_state = rules.with_challenge(new_state, challenge, now, policy)
        session.challenge = {
            "id": challenge.id,
            "prompt": challenge.prompt,
            "options": list(challenge.options),
            "expires_in_s": int(policy.challenge_timeout_s),
        }
        challenge_issued = True
    course_completed = False
    if decision.credited:
        progress.covered = [list(i) for i in new_state.covered]
        progress.covered_s = decision.covered_s
        progress.percent = decision.percent
        progress.updated_at = _dt(now)
        if decision.completed and progress.completed_at is None:
            progress.completed_at = _dt(now)
            course = db.session.get(Course, session.course_id)
            assert course is not None
            course_completed = maybe_complete_course(
                user=actor, course=course, now=_dt(now), settings=settings
            )
    if decision.accepted and math.isfinite(hb.position_s) and 0 <= hb.position_s <= state.duration_s + 5:
        progress.position_s = hb.position_s
    if decision.reason == rules.Reason.CHALLENGE_FAILED:
        session.challenges_failed += 1
    flags = {"audio": stored.get("audio", False), "no_seek_ahead": stored.get("no_seek_ahead", False)}
    if decision.ends_session:
        _end(session, new_state, now)
        session.state = session.state | flags
        session.challenge = None
    else:
        session.state = dump_state(new_state) | flags
    session.heartbeats += 1
    session.rejected += 0 if decision.accepted else 1
    session.credited_s = new_state.credited_s
    db.session.add(
        HeartbeatRecord(
            session_id=session.id,
            user_id=actor.id,
            lesson_id=session.lesson_id,
            received_at=_dt(now),
            seq=hb.seq if -(2**62) < hb.seq < 2**62 else None,
            position_s=hb.position_s if math.isfinite(hb.position_s) else None,
            rate=hb.rate if math.isfinite(hb.rate) else None,
            visible=hb.visible,
            claimed=[[a, b] for a, b in hb.ranges[:200] if math.isfinite(a) and math.isfinite(b)],
            accepted=decision.accepted,
            reason=str(decision.reason) if decision.reason else None,
            notes=[str(n) for n in decision.notes],
            credited=[list(i) for i in decision.credited],
            credited_s=decision.credited_s,
            challenge_issued=challenge_issued,
        )
    )
    return HeartbeatResult(
        accepted=decision.accepted,
        reason=str(decision.reason) if decision.reason else None,
        ended=decision.ends_session,
        accepted_s=decision.credited_s,
        covered_s=decision.covered_s,
        duration_s=state.duration_s,
        percent=decision.percent,
        completed=decision.completed,
        challenge=session.challenge if not decision.ends_session else None,
        course_completed=course_completed,
        covered=tuple(new_state.covered),
    )


def record_ended_heartbeat(*, actor: User, session: PlaybackSession, hb: rules.Heartbeat, now: float) -> None:
    """A heartbeat for a session that already ended: evidence, nothing else."""
    session.heartbeats += 1
    session.rejected += 1
    db.session.add(
        HeartbeatRecord(
            session_id=session.id,
            user_id=actor.id,
            lesson_id=session.lesson_id,
            received_at=_dt(now),
            seq=hb.seq if -(2**62) < hb.seq < 2**62 else None,
            position_s=hb.position_s if math.isfinite(hb.position_s) else None,
            rate=hb.rate if math.isfinite(hb.rate) else None,
            visible=hb.visible,
            claimed=[],
            accepted=False,
            reason=session.ended_reason,
            notes=[],
            credited=[],
            credited_s=0.0,
        )
    )
