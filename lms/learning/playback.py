"""Playback sessions and heartbeats: the rules engine (``rules.py``) wrapped in locks and evidence.

Concurrency: a heartbeat locks its session row (``SELECT … FOR UPDATE``) and then the user's lesson
progress row, so heartbeats of one session are applied one at a time and a sequence number can credit
once. Starting a playback locks the user's lease row, then the previous session, and ends it. The lock
order (lease → session → progress) is the same everywhere, so these never deadlock.
"""

from __future__ import annotations

import functools
import math
import random
import secrets
from collections import namedtuple
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Row, and_, bindparam, cast, exists, insert, select, update

from lms.accounts.models import ApiToken, User
from lms.accounts.services import TOKEN_IS_VALID, token_params
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
    """The credit rules for these settings (built once per settings object and flags: every heartbeat
    asks)."""
    key = (id(settings), audio, no_seek_ahead)
    cached = _POLICIES.get(key)
    if cached is not None and cached[0] is settings:
        return cached[1]
    policy = _policy_from(settings, audio=audio, no_seek_ahead=no_seek_ahead)
    if len(_POLICIES) > 64:  # (settings objects come and go in tests)
        _POLICIES.clear()
    _POLICIES[key] = (settings, policy)
    return policy


_POLICIES: dict[tuple[int, bool, bool], tuple[Settings, rules.CreditPolicy]] = {}


def _policy_from(settings: Settings, *, audio: bool, no_seek_ahead: bool) -> rules.CreditPolicy:
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


def dump_state(state: rules.SessionState, *, with_covered: bool = True) -> dict[str, Any]:
    """The session's JSON. The coverage lives in the user's ``lesson_progress`` row (the one that
    counts); a session keeps a copy only when it ends, as evidence of what it had reached."""
    challenge = state.challenge
    duration = state.duration_s
    return {
        "started_at": state.started_at,
        "last_seq": state.last_seq,
        "last_accepted_at": state.last_accepted_at,
        "credited_s": state.credited_s,
        "hidden_since": state.hidden_since,
        "next_challenge_at": state.next_challenge_at,
        "challenge": asdict(challenge) if challenge is not None else None,
        "duration_s": duration if duration is None or math.isfinite(duration) else 0.0,
        "covered": [[a, b] for a, b in state.covered] if with_covered else [],
        "ended": str(state.ended) if state.ended else None,
    }


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


_SESSIONS = PlaybackSession.__table__
_PROGRESS = LessonProgress.__table__
_EVIDENCE = HeartbeatRecord.__table__

# The session row and the user's progress row of its lesson, in one round trip. ``heartbeats`` (a session
# counts every heartbeat) and ``covered_s`` (grows with every credit) are what the optimistic path checks
# did not change before it writes.
_READ_SESSION = (
    select(
        _SESSIONS.c.id,
        _SESSIONS.c.user_id,
        _SESSIONS.c.lesson_id,
        _SESSIONS.c.course_id,
        _SESSIONS.c.status,
        _SESSIONS.c.ended_reason,
        _SESSIONS.c.state,
        _SESSIONS.c.challenge,
        _SESSIONS.c.heartbeats,
        _PROGRESS.c.id.label("progress_id"),
        _PROGRESS.c.covered,
        _PROGRESS.c.covered_s,
        _PROGRESS.c.completed_at,
    )
    .join(
        _PROGRESS,
        and_(_PROGRESS.c.user_id == _SESSIONS.c.user_id, _PROGRESS.c.lesson_id == _SESSIONS.c.lesson_id),
    )
    .where(_SESSIONS.c.public_id == bindparam("public_id"))
)
_LOCK_SESSION = _READ_SESSION.with_for_update(of=[_SESSIONS, _PROGRESS])

# The same, for a bearer token checked in the same statement (``TOKEN_IS_VALID``): no row when the token
# is not valid, the session is not its user's, or the user must first change the password.
_READ_SESSION_BY_TOKEN = (
    _READ_SESSION.join(ApiToken, ApiToken.user_id == _SESSIONS.c.user_id)
    .join(User, TOKEN_IS_VALID)
    .where(User.must_change_password.is_(False))
)
_LOCK_SESSION_BY_TOKEN = _READ_SESSION_BY_TOKEN.with_for_update(of=[_SESSIONS, _PROGRESS])


def _locked(actor: User, public_id: str) -> Row[Any]:
    row = db.session.execute(_LOCK_SESSION, {"public_id": public_id[:32]}).first()
    if row is None:
        # Not found, another user's, or started before progress rows existed: create it, then lock.
        session = db.session.scalar(
            select(PlaybackSession).where(PlaybackSession.public_id == public_id[:32])
        )
        if session is None or session.user_id != actor.id:
            raise NotFound()
        lesson = db.session.get(Lesson, session.lesson_id)
        assert lesson is not None
        progress_row(actor.id, lesson)
        row = db.session.execute(_LOCK_SESSION, {"public_id": public_id[:32]}).first()
        assert row is not None
    if row.user_id != actor.id:
        raise NotFound()
    return row


_EVIDENCE_COLUMNS = (
    "session_id",
    "user_id",
    "lesson_id",
    "received_at",
    "seq",
    "position_s",
    "rate",
    "visible",
    "claimed",
    "accepted",
    "reason",
    "notes",
    "credited",
    "credited_s",
    "challenge_issued",
)


def _evidence(
    row: Row[Any], hb: rules.Heartbeat, now: float, *, decision: rules.Decision | None, challenge_issued: bool
) -> dict[str, Any]:
    return {
        "session_id": row.id,
        "user_id": row.user_id,
        "lesson_id": row.lesson_id,
        "received_at": _dt(now),
        "seq": hb.seq if -(2**62) < hb.seq < 2**62 else None,
        "position_s": hb.position_s if math.isfinite(hb.position_s) else None,
        "rate": hb.rate if math.isfinite(hb.rate) else None,
        "visible": hb.visible,
        "claimed": (
            [[a, b] for a, b in hb.ranges[:200] if math.isfinite(a) and math.isfinite(b)] if decision else []
        ),
        "accepted": bool(decision and decision.accepted),
        "reason": (str(decision.reason) if decision.reason else None) if decision else row.ended_reason,
        "notes": [str(n) for n in decision.notes] if decision else [],
        "credited": [list(i) for i in decision.credited] if decision else [],
        "credited_s": decision.credited_s if decision else 0.0,
        "challenge_issued": challenge_issued,
    }


_COUNTERS = ("rejected", "challenges_failed")


def _session_sets(columns: tuple[str, ...]) -> dict[str, Any]:
    """A heartbeat's SET clause for its session: counted, the counters in ``_COUNTERS`` incremented by
    ``s_<name>``, ``columns`` set to ``s_<name>``."""
    values: dict[str, Any] = {"heartbeats": _SESSIONS.c.heartbeats + 1}
    values |= {name: _SESSIONS.c[name] + bindparam(f"s_{name}", type_=Integer) for name in _COUNTERS}
    return values | {name: bindparam(f"s_{name}", type_=_SESSIONS.c[name].type) for name in columns}


def _progress_sets(columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(f"p_{name}", type_=_PROGRESS.c[name].type) for name in columns}


@functools.cache
def _writes(
    dialect: str, session_columns: tuple[str, ...], progress_columns: tuple[str, ...]
) -> tuple[Any, ...]:
    """The statements of one heartbeat's writes, built once per shape with bound parameters (building
    SQLAlchemy constructs and their cache keys per request costs more than running them). On PostgreSQL
    the updates are data-modifying CTEs of the evidence insert: ONE statement, which PostgreSQL runs
    whole whether or not the CTEs are referenced."""
    statements: list[Any] = [
        update(_SESSIONS).where(_SESSIONS.c.id == bindparam("s_id")).values(_session_sets(session_columns))
    ]
    if progress_columns:
        statements.append(
            update(_PROGRESS)
            .where(_PROGRESS.c.id == bindparam("p_id"))
            .values(_progress_sets(progress_columns))
        )
    evidence = insert(_EVIDENCE).values(
        {name: bindparam(f"h_{name}", type_=_EVIDENCE.c[name].type) for name in _EVIDENCE_COLUMNS}
    )
    if dialect != "postgresql":
        return (*statements, evidence)
    for number, statement in enumerate(statements):
        evidence = evidence.add_cte(statement.cte(f"w{number}"))
    return (evidence,)


def _write(session: dict[str, Any], progress: dict[str, Any], evidence: dict[str, Any]) -> None:
    """One heartbeat's writes. ``session``: ``id``, the increments of the counters in ``_COUNTERS`` and
    the columns to set; ``progress``: ``id`` and the columns to set (empty: not written); the evidence."""
    connection = db.session.connection()
    shape = (
        tuple(k for k in session if k != "id" and k not in _COUNTERS),
        tuple(k for k in progress if k != "id"),
    )
    params = {f"s_{k}": v for k, v in session.items()}
    params |= {f"p_{k}": v for k, v in progress.items()}
    params |= {f"h_{k}": v for k, v in evidence.items()}
    for statement in _writes(connection.dialect.name, *shape):
        connection.execute(statement, params)


def receive_heartbeat(
    *, actor: User, public_id: str, hb: rules.Heartbeat, settings: Settings, now: float
) -> HeartbeatResult:
    """Judge one heartbeat and record it; always leaves an evidence row (the caller commits).

    The hot path is three round trips on PostgreSQL: one SELECT locking the session and the progress
    row, one statement writing the session, the progress and the evidence, and the commit. Only a
    completed lesson goes further (the course may now credit its hours)."""
    return _receive(_locked(actor, public_id), hb, settings, now, lambda: actor)


def receive_heartbeat_by_token(
    *, token: str, public_id: str, hb: rules.Heartbeat, settings: Settings, now: float
) -> HeartbeatResult | None:
    """``receive_heartbeat`` for a bearer token checked in the locking SELECT itself (one round trip and
    one ORM load less than authenticating first). None: nothing done — the token is not valid, or the
    session is missing or another user's; the caller authenticates the usual way and calls
    ``receive_heartbeat`` for the right error."""
    params = token_params(token)  # token expiry by the real clock, as everywhere
    if params is None:
        return None
    row = db.session.execute(_LOCK_SESSION_BY_TOKEN, params | {"public_id": public_id[:32]}).first()
    if row is None:
        return None

    def user() -> User:
        found = db.session.get(User, row.user_id)
        assert found is not None
        return found

    return _receive(row, hb, settings, now, user)


@dataclass(frozen=True)
class _Judged:
    """One heartbeat judged against the rows read: the answer and the writes that record it."""

    result: HeartbeatResult
    session: dict[str, Any]  # ``_write``'s arguments
    progress: dict[str, Any]
    evidence: dict[str, Any]
    completes: bool  # the lesson completes now: the course may credit its hours


def _judge(row: Row[Any], hb: rules.Heartbeat, settings: Settings, now: float) -> _Judged:
    stored = row.state
    flags = {"audio": stored.get("audio", False), "no_seek_ahead": stored.get("no_seek_ahead", False)}
    if row.status == SessionStatus.ENDED:  # evidence, nothing else
        return _Judged(
            HeartbeatResult(
                accepted=False,
                reason=row.ended_reason,
                ended=True,
                accepted_s=0.0,
                covered_s=0.0,
                duration_s=0.0,
                percent=0,
                completed=False,
                challenge=None,
            ),
            {"id": row.id, "rejected": 1, "challenges_failed": 0},
            {},
            _evidence(row, hb, now, decision=None, challenge_issued=False),
            completes=False,
        )
    policy = policy_from(settings, audio=bool(flags["audio"]), no_seek_ahead=bool(flags["no_seek_ahead"]))
    state = replace(load_state(stored), covered=tuple((a, b) for a, b in row.covered))
    decision = rules.evaluate(state, hb, now, policy)
    new_state = decision.state
    challenge = row.challenge
    challenge_issued = False
    if decision.challenge_passed:
        new_state = replace(
            new_state, next_challenge_at=now + rules.next_challenge_delay(_SYSTEM_RANDOM, policy)
        )
        challenge = None
    if decision.issue_challenge and not decision.ends_session:
        issued = rules.make_challenge(_SYSTEM_RANDOM)
        new_state = rules.with_challenge(new_state, issued, now, policy)
        challenge = {
            "id": issued.id,
            "prompt": issued.prompt,
            "options": list(issued.options),
            "expires_in_s": int(policy.challenge_timeout_s),
        }
        challenge_issued = True

    session: dict[str, Any] = {
        "id": row.id,
        "rejected": 0 if decision.accepted else 1,
        "challenges_failed": 1 if decision.reason == rules.Reason.CHALLENGE_FAILED else 0,
        "credited_s": new_state.credited_s,
        "challenge": challenge,
    }
    if decision.ends_session:
        session |= {
            "status": SessionStatus.ENDED,
            "ended_reason": str(new_state.ended or rules.Reason.ENDED),
            "ended_at": _dt(now),
            "state": dump_state(new_state) | flags,
            "challenge": None,
        }
    else:
        session["state"] = dump_state(new_state, with_covered=False) | flags

    progress: dict[str, Any] = {}
    completes = False
    if decision.credited:
        progress = {
            "covered": [list(i) for i in new_state.covered],
            "covered_s": decision.covered_s,
            "percent": decision.percent,
            "updated_at": _dt(now),
        }
        if decision.completed and row.completed_at is None:
            progress["completed_at"] = _dt(now)
            completes = True
    if decision.accepted and math.isfinite(hb.position_s) and 0 <= hb.position_s <= state.duration_s + 5:
        progress["position_s"] = hb.position_s
    if progress:
        progress["id"] = row.progress_id
    result = HeartbeatResult(
        accepted=decision.accepted,
        reason=str(decision.reason) if decision.reason else None,
        ended=decision.ends_session,
        accepted_s=decision.credited_s,
        covered_s=decision.covered_s,
        duration_s=state.duration_s,
        percent=decision.percent,
        completed=decision.completed,
        challenge=challenge if not decision.ends_session else None,
        covered=tuple(new_state.covered),
    )
    evidence = _evidence(row, hb, now, decision=decision, challenge_issued=challenge_issued)
    return _Judged(result, session, progress, evidence, completes)


def _receive(
    row: Row[Any], hb: rules.Heartbeat, settings: Settings, now: float, user: Callable[[], User]
) -> HeartbeatResult:
    judged = _judge(row, hb, settings, now)
    _write(judged.session, judged.progress, judged.evidence)
    if not judged.completes:
        return judged.result
    course = db.session.get(Course, row.course_id)
    assert course is not None
    course_completed = maybe_complete_course(user=user(), course=course, now=_dt(now), settings=settings)
    return replace(judged.result, course_completed=course_completed)


# ----------------------------------------------------------------------------------------------------
# The optimistic hot path (PostgreSQL): read without locks, judge, then write only if nothing changed


@dataclass(frozen=True)
class _Sql:
    """A statement compiled once for a dialect and run on a DBAPI cursor, without SQLAlchemy's
    per-execution machinery; ``params`` applies the type processing SQLAlchemy would (JSON, UTC
    datetimes) and fills in the statement's own constants."""

    text: str
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> _Sql:
        compiled = statement.compile(dialect=dialect)
        text = str(compiled)
        defaults: dict[str, Any] = {}
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            if f"%({name})s" not in text:
                continue
            if not bind.required:
                defaults[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        return cls(text, defaults, processors)

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        merged = self.defaults | values
        for name, processor in self.processors.items():
            if name in merged:
                merged[name] = processor(merged[name])
        return merged


_SessionRow = namedtuple("_SessionRow", [c.key for c in _READ_SESSION_BY_TOKEN.selected_columns])  # type: ignore[misc]


@functools.cache
def _optimistic_statements(dialect: Any, progress_columns: tuple[str, ...]) -> tuple[_Sql, _Sql]:
    """The read, and the guarded write of a heartbeat that neither ends its session nor completes its
    lesson. The guard locks the session and progress rows and checks they are as they were read (the
    session's heartbeat count and status, the progress's covered seconds — every other write to them
    changes one of these); if not, the write does nothing at all and returns no row."""
    guard = (
        select(_SESSIONS.c.id)
        .join_from(_SESSIONS, _PROGRESS, _PROGRESS.c.id == bindparam("g_progress_id"))
        .where(
            _SESSIONS.c.id == bindparam("s_id"),
            _SESSIONS.c.status == bindparam("g_status"),
            _SESSIONS.c.heartbeats == bindparam("g_heartbeats"),
            _PROGRESS.c.covered_s == bindparam("g_covered_s"),
        )
        .with_for_update(of=[_SESSIONS, _PROGRESS])
        .cte("guard")
    )
    guarded = exists(select(guard.c.id))
    columns = ("credited_s", "challenge", "state")  # what a heartbeat that ends nothing sets
    writes: list[Any] = [
        update(_SESSIONS).where(_SESSIONS.c.id.in_(select(guard.c.id))).values(_session_sets(columns))
    ]
    if progress_columns:
        writes.append(
            update(_PROGRESS)
            .where(_PROGRESS.c.id == bindparam("g_progress_id"), guarded)
            .values(_progress_sets(progress_columns))
        )
    # INSERT … SELECT (typed: the parameters have no column to take a type from) WHERE the guard held
    evidence = (
        insert(_EVIDENCE)
        .from_select(
            list(_EVIDENCE_COLUMNS),
            select(
                *(
                    cast(bindparam(f"h_{name}", type_=_EVIDENCE.c[name].type), _EVIDENCE.c[name].type)
                    for name in _EVIDENCE_COLUMNS
                )
            ).where(guarded),
        )
        .returning(_EVIDENCE.c.id)
    )
    for number, write in enumerate(writes):
        evidence = evidence.add_cte(write.cte(f"w{number}"))
    return _Sql.of(_READ_SESSION_BY_TOKEN, dialect), _Sql.of(evidence, dialect)


def receive_heartbeat_optimistic(
    connection: Any,
    dialect: Any,
    *,
    token: str,
    public_id: str,
    hb: rules.Heartbeat,
    settings: Settings,
    now: float,
) -> HeartbeatResult | None:
    """``receive_heartbeat_by_token`` in two statements on a DBAPI connection in autocommit mode
    (PostgreSQL), holding no lock while the rules run: read the session, its progress and the token;
    judge; write the session, the progress and the evidence in one statement guarded by what was read.

    None: NOTHING was written — the token, session or body needs the usual path's answer, the session
    ends or the lesson completes now (course hours), or another request changed the rows in between.
    The caller then takes the locking path (``receive_heartbeat_by_token``), which judges afresh."""
    params = token_params(token)
    if params is None:
        return None
    read, _ = _optimistic_statements(dialect, ())
    cursor = connection.cursor()
    try:
        cursor.execute(read.text, read.params(params | {"public_id": public_id[:32]}))
        fetched = cursor.fetchone()
        if fetched is None:
            return None
        row = _SessionRow._make(fetched)
        judged = _judge(row, hb, settings, now)  # type: ignore[arg-type]
        if judged.result.ended or judged.completes:
            return None
        progress = judged.progress
        _, write = _optimistic_statements(dialect, tuple(k for k in progress if k != "id"))
        values = {
            "s_id": row.id,
            "g_status": row.status,
            "g_heartbeats": row.heartbeats,
            "g_covered_s": row.covered_s,
            "g_progress_id": row.progress_id,
        }
        values |= {f"s_{k}": v for k, v in judged.session.items() if k != "id"}
        values |= {f"p_{k}": v for k, v in progress.items() if k != "id"}
        values |= {f"h_{k}": v for k, v in judged.evidence.items()}
        cursor.execute(write.text, write.params(values))
        return judged.result if cursor.fetchone() is not None else None
    finally:
        cursor.close()
