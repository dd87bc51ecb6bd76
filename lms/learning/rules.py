"""The pure decision core of the learning-hours ledger: what one playback heartbeat earns.

No framework, no database, no I/O and no wall clock: the caller passes the server time as float seconds and
stores the returned state. The client is untrusted; the server clock and the user's coverage union decide.

Rules (one heartbeat = ``Heartbeat``; one playback session = ``SessionState``):

* Time-based ends come first: an ended session stays ended; a heartbeat more than ``session_ttl_s`` after the
  last accepted one expires the session; any heartbeat after a pending challenge's deadline fails it.
* Then nonsense values -> ``MALFORMED``; ``seq`` not above the last accepted one -> ``REPLAYED``. Neither
  changes the state nor ends the session.
* A heartbeat carrying an answer while a challenge is pending either passes it (id and answer match) or
  ends the session (``CHALLENGE_FAILED``).
* Budget of one heartbeat: the usable window runs from the last accepted heartbeat to ``now``, cut at
  ``hidden_since + hidden_grace_s`` while hidden and at the issue time of a pending challenge. The budget is
  ``usable × max_rate + min(tolerance_s, usable)`` (no usable time, no tolerance: a burst cannot multiply it),
  capped at ``max_credit_per_heartbeat_s`` and by the cumulative bound
  ``(now − started_at) × max_rate + tolerance_s − credited_s``.
* The claim is clipped to the media, minus what the user already covered (in any session); what is left is
  credited in ascending order until the budget is spent. With ``no_seek_ahead`` nothing beyond
  ``frontier + remaining budget`` is credited, the frontier being the furthest covered end (it advances as
  pieces are credited, so consecutive play extends it and a jump does not).
* Seconds are floats at the edges and whole milliseconds inside: claims are rounded inwards, the stored
  coverage outwards and budgets down, so credit never exceeds a bound by a rounding error and the intervals
  survive a JSON round trip unchanged. The media ends at its duration rounded down to the millisecond.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

Interval = tuple[float, float]

MAX_RANGES = 50
MAX_SEQ = 2**31 - 1  # fits a 32-bit INTEGER column
MAX_CHALLENGE_TEXT = 200


# ----------------------------------------------------------------------------------------------------
# Interval arithmetic (works on floats and on integer milliseconds alike)


def merge(ranges: Iterable[Interval]) -> list[Interval]:
    """Sorted, overlapping or touching intervals merged, empty (and reversed or NaN) ones dropped."""
    out: list[Interval] = []
    for start, end in sorted((s, e) for s, e in ranges if s < e):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def union(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    return merge([*a, *b])


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """``a`` minus ``b``, merged."""
    left, right = merge(a), merge(b)
    out: list[Interval] = []
    j = 0
    for start, end in left:
        while j < len(right) and right[j][1] <= start:
            j += 1
        cursor = start
        k = j
        while k < len(right) and right[k][0] < end:
            cut_start, cut_end = right[k]
            if cut_start > cursor:
                out.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def _length(merged: Sequence[Interval]) -> float:
    return sum(e - s for s, e in merged)


def total(ranges: Sequence[Interval]) -> float:
    """Seconds covered by the union of ``ranges`` (overlaps count once)."""
    return float(_length(merge(ranges)))


def clip(ranges: Iterable[Interval], lo: float, hi: float) -> list[Interval]:
    """Each interval intersected with [lo, hi], merged; what falls outside is dropped."""
    return merge((max(s, lo), min(e, hi)) for s, e in ranges)


# ----------------------------------------------------------------------------------------------------
# Policy, reasons, notes


@dataclass(frozen=True)
class CreditPolicy:
    max_rate: float = 1.0
    tolerance_s: float = 2.0
    heartbeat_interval_s: int = 15
    max_credit_per_heartbeat_s: float = 30.0
    hidden_grace_s: float = 10.0  # math.inf for audio lessons
    session_ttl_s: float = 600.0
    completion_share: float = 0.95
    no_seek_ahead: bool = False
    challenge_min_interval_s: float = 600.0
    challenge_max_interval_s: float = 1200.0
    challenge_timeout_s: float = 60.0
    challenges_enabled: bool = True

    def __post_init__(self) -> None:
        finite_positive = {
            "max_rate": self.max_rate,
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "session_ttl_s": self.session_ttl_s,
            "challenge_min_interval_s": self.challenge_min_interval_s,
            "challenge_timeout_s": self.challenge_timeout_s,
        }
        for name, value in finite_positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        for name, value in {
            "tolerance_s": self.tolerance_s,
            "max_credit_per_heartbeat_s": self.max_credit_per_heartbeat_s,
        }.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, not {value!r}")
        if not self.hidden_grace_s >= 0:  # inf allowed (audio)
            raise ValueError(f"hidden_grace_s must be >= 0, not {self.hidden_grace_s!r}")
        if not 0 < self.completion_share <= 1:
            raise ValueError(f"completion_share must be in (0, 1], not {self.completion_share!r}")
        if not (
            math.isfinite(self.challenge_max_interval_s)
            and self.challenge_max_interval_s >= self.challenge_min_interval_s
        ):
            raise ValueError("challenge_max_interval_s must be >= challenge_min_interval_s")


class Reason(StrEnum):
    """Why a heartbeat was rejected, or why the session ends."""

    REPLAYED = "replayed"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    CHALLENGE_FAILED = "challenge_failed"
    ENDED = "ended"


ENDING_REASONS = frozenset({Reason.EXPIRED, Reason.SUPERSEDED, Reason.CHALLENGE_FAILED, Reason.ENDED})


class Note(StrEnum):
    """Evidence on an accepted heartbeat: why part of the claim earned nothing, or what looked wrong."""

    OUTSIDE_MEDIA = "outside_media"  # part of a range lies outside [0, duration]
    ALREADY_COVERED = "already_covered"  # re-watched: covered before, counts once
    SEEK_AHEAD = "seek_ahead"  # beyond frontier + budget under no_seek_ahead
    CLIPPED_TO_BUDGET = "clipped_to_budget"  # more new coverage than server time allows
    HIDDEN = "hidden"  # the budget window was cut at hidden_since + grace
    CHALLENGE_PENDING = "challenge_pending"  # the budget window was cut at the challenge's issue time
    RATE_ABOVE_MAX = "rate_above_max"  # the client reports a playback rate above max_rate
    POSITION_IMPLAUSIBLE = "position_implausible"  # position beyond the end of the media


# ----------------------------------------------------------------------------------------------------
# Heartbeats, sessions, decisions


@dataclass(frozen=True)
class Heartbeat:
    seq: int
    position_s: float
    ranges: tuple[Interval, ...]
    rate: float
    visible: bool
    challenge_id: str | None = None
    challenge_answer: str | None = None


@dataclass(frozen=True)
class PendingChallenge:
    id: str
    answer: str
    issued_at: float
    deadline: float


@dataclass(frozen=True)
class SessionState:
    started_at: float
    last_seq: int  # 0 before the first heartbeat
    last_accepted_at: float  # = started_at initially
    credited_s: float  # this session's credited seconds so far
    hidden_since: float | None
    next_challenge_at: float | None  # None: no challenge scheduled
    challenge: PendingChallenge | None
    duration_s: float  # the lesson's ffprobe duration
    covered: tuple[Interval, ...]  # the user's union for this lesson (all sessions)
    ended: Reason | None = None  # set once the session ends; later heartbeats are rejected with it


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason: Reason | None  # why rejected / why the session ends
    ends_session: bool
    credited: tuple[Interval, ...]  # newly covered intervals
    credited_s: float
    state: SessionState  # the state to store after this heartbeat
    notes: tuple[Note, ...]
    issue_challenge: bool
    covered_s: float  # after this heartbeat
    percent: int
    completed: bool
    challenge_passed: bool = False  # the wrapper schedules the next challenge when set


@dataclass(frozen=True)
class Challenge:
    id: str
    prompt: str
    options: tuple[str, ...]
    answer: str


# ----------------------------------------------------------------------------------------------------
# Milliseconds


def _ms_floor(x: float) -> int:
    # A nanosecond of slack absorbs float noise (0.3 * 1000 = 300.00000000000006) before rounding.
    return math.floor(x * 1000 + 1e-6)


def _ms_ceil(x: float) -> int:
    return math.ceil(x * 1000 - 1e-6)


def _claimed_ms(start: float, end: float, covered: Sequence[tuple[int, int]], dur_ms: int) -> tuple[int, int]:
    """A claim in whole milliseconds, rounded inwards, except that an edge inside the millisecond where
    existing coverage ends (or begins) joins it: consecutive heartbeats that share a boundary such as
    12.3456 s leave no 1 ms gap between them (otherwise the coverage would grow by one interval per
    heartbeat). Joining adds under 1 ms to the claim, and the budget still bounds what is credited."""
    lo, hi = _ms_ceil(start), min(_ms_floor(end), dur_ms)
    if start * 1000 < lo - 1e-6 and any(e == lo - 1 for _, e in covered):
        lo -= 1
    if end * 1000 > hi + 1e-6 and hi < dur_ms and any(s == hi + 1 for s, _ in covered):
        hi += 1
    return lo, hi


def _duration_ms(duration_s: float) -> int:
    if not (math.isfinite(duration_s) and duration_s > 0):
        return 0
    return _ms_floor(duration_s)


def _covered_ms(covered: Iterable[Interval], dur_ms: int) -> list[tuple[int, int]]:
    """Stored coverage as whole milliseconds, rounded outwards (so nothing covered is credited twice)."""
    hi = dur_ms / 1000
    return merge((_ms_floor(max(s, 0.0)), _ms_ceil(min(e, hi))) for s, e in covered if s < e)


def _seconds(ranges: Iterable[tuple[int, int]]) -> tuple[Interval, ...]:
    return tuple((s / 1000, e / 1000) for s, e in ranges)


def _progress(
    covered_ms: Sequence[tuple[int, int]], dur_ms: int, policy: CreditPolicy
) -> tuple[float, int, bool]:
    length = int(_length(covered_ms))
    if dur_ms <= 0:
        return length / 1000, 0, False
    percent = min(100, length * 100 // dur_ms)
    completed = length >= math.ceil(policy.completion_share * dur_ms - 1e-6)
    return length / 1000, percent, completed


def coverage(covered: Sequence[Interval], duration_s: float, policy: CreditPolicy) -> tuple[float, int, bool]:
    """(unique covered seconds, floor(100 × covered / duration) capped at 100, completed)."""
    dur_ms = _duration_ms(duration_s)
    return _progress(_covered_ms(covered, dur_ms), dur_ms, policy)


# ----------------------------------------------------------------------------------------------------
# Sessions and challenges


def next_challenge_delay(rng: random.Random, policy: CreditPolicy) -> float:
    return rng.uniform(policy.challenge_min_interval_s, policy.challenge_max_interval_s)


def new_session(
    now: float, duration_s: float, covered: Sequence[Interval], policy: CreditPolicy, rng: random.Random
) -> SessionState:
    """A fresh playback session; the first challenge is scheduled if the policy enables them."""
    if not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds")
    dur_ms = _duration_ms(duration_s)
    return SessionState(
        started_at=now,
        last_seq=0,
        last_accepted_at=now,
        credited_s=0.0,
        hidden_since=None,
        next_challenge_at=now + next_challenge_delay(rng, policy) if policy.challenges_enabled else None,
        challenge=None,
        duration_s=duration_s,
        covered=_seconds(_covered_ms(covered, dur_ms)),
    )


def make_challenge(rng: random.Random) -> Challenge:
    """A presence question a person answers in two seconds.

    The four options are consecutive numbers with the answer at a uniformly random rank, so a script that does
    not read the prompt guesses right one time in four whatever its strategy. Pass ``random.SystemRandom()``
    in production: the id is the challenge's nonce.
    """
    if rng.random() < 0.5:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        prompt, result = f"请选择 {a} + {b} 的结果", a + b
    else:
        a, b = rng.randint(12, 19), rng.randint(2, 9)
        prompt, result = f"请选择 {a} − {b} 的结果", a - b
    rank = rng.randrange(4)
    options = [str(result - rank + i) for i in range(4)]
    rng.shuffle(options)
    token = f"{rng.getrandbits(96):024x}"
    return Challenge(id=token, prompt=prompt, options=tuple(options), answer=str(result))


def with_challenge(
    state: SessionState, challenge: Challenge, now: float, policy: CreditPolicy
) -> SessionState:
    """The state after issuing ``challenge`` at ``now``: credit freezes from now until it is answered."""
    pending = PendingChallenge(
        id=challenge.id, answer=challenge.answer, issued_at=now, deadline=now + policy.challenge_timeout_s
    )
    return replace(state, challenge=pending)


def end_session(state: SessionState, reason: Reason = Reason.ENDED) -> SessionState:
    """Record an end decided outside ``evaluate``: ``SUPERSEDED`` (another playback), ``ENDED`` (client)."""
    if reason not in ENDING_REASONS:
        raise ValueError(f"{reason!r} does not end a session")
    return state if state.ended is not None else replace(state, ended=reason)


# ----------------------------------------------------------------------------------------------------
# The decision


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _text(x: object) -> bool:
    return x is None or (isinstance(x, str) and len(x) <= MAX_CHALLENGE_TEXT)


def _malformed(hb: Heartbeat) -> bool:
    if not (isinstance(hb.seq, int) and not isinstance(hb.seq, bool) and 0 < hb.seq <= MAX_SEQ):
        return True
    if not (_number(hb.position_s) and hb.position_s >= 0):
        return True
    if not (_number(hb.rate) and hb.rate >= 0):
        return True
    if not isinstance(hb.visible, bool) or not _text(hb.challenge_id) or not _text(hb.challenge_answer):
        return True
    if not isinstance(hb.ranges, Sequence) or isinstance(hb.ranges, str) or len(hb.ranges) > MAX_RANGES:
        return True
    for r in hb.ranges:
        if not isinstance(r, Sequence) or isinstance(r, str) or len(r) != 2:
            return True
        start, end = r
        if not (_number(start) and _number(end) and 0 <= start <= end):
            return True
    return False


def _rejected(state: SessionState, reason: Reason, policy: CreditPolicy) -> Decision:
    ends = reason in ENDING_REASONS
    covered_s, percent, completed = coverage(state.covered, state.duration_s, policy)
    return Decision(
        accepted=False,
        reason=reason,
        ends_session=ends,
        credited=(),
        credited_s=0.0,
        state=end_session(state, reason) if ends else state,
        notes=(),
        issue_challenge=False,
        covered_s=covered_s,
        percent=percent,
        completed=completed,
    )


def evaluate(state: SessionState, hb: Heartbeat, now: float, policy: CreditPolicy) -> Decision:
    """Judge one heartbeat at server time ``now``: what it earns and the state to store after it."""
    if not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds")
    if state.ended is not None:
        return _rejected(state, state.ended, policy)
    if now - state.last_accepted_at > policy.session_ttl_s:
        return _rejected(state, Reason.EXPIRED, policy)
    pending = state.challenge
    if pending is not None and now > pending.deadline:
        return _rejected(state, Reason.CHALLENGE_FAILED, policy)
    if _malformed(hb):
        return _rejected(state, Reason.MALFORMED, policy)
    if hb.seq <= state.last_seq:
        return _rejected(state, Reason.REPLAYED, policy)
    passed = False
    if pending is not None and hb.challenge_answer is not None:
        if hb.challenge_id != pending.id or hb.challenge_answer != pending.answer:
            return _rejected(state, Reason.CHALLENGE_FAILED, policy)
        passed = True

    notes: set[Note] = set()
    if hb.rate > policy.max_rate:
        notes.add(Note.RATE_ABOVE_MAX)
    if hb.position_s > state.duration_s + policy.tolerance_s:
        notes.add(Note.POSITION_IMPLAUSIBLE)

    # The budget: usable server time since the last accepted heartbeat.
    window_end = now
    cut_by: set[Note] = set()
    if state.hidden_since is not None and state.hidden_since + policy.hidden_grace_s < window_end:
        window_end = state.hidden_since + policy.hidden_grace_s
        cut_by.add(Note.HIDDEN)
    if pending is not None and pending.issued_at < window_end:
        window_end = pending.issued_at
        cut_by.add(Note.CHALLENGE_PENDING)
    usable = max(0.0, window_end - state.last_accepted_at)
    budget = usable * policy.max_rate + min(policy.tolerance_s, usable) if usable > 0 else 0.0
    budget = min(budget, policy.max_credit_per_heartbeat_s)
    cumulative = (now - state.started_at) * policy.max_rate + policy.tolerance_s - state.credited_s
    budget = min(budget, cumulative)
    remaining = math.floor(budget * 1000) if budget > 0 else 0  # strictly down: never above a bound

    # The claim: clipped to the media, minus what is already covered, credited in ascending order.
    dur_ms = _duration_ms(state.duration_s)
    covered = _covered_ms(state.covered, dur_ms)
    raw = merge((float(s), float(e)) for s, e in hb.ranges)
    inside = clip(raw, 0.0, dur_ms / 1000)
    if _length(raw) > _length(inside):
        notes.add(Note.OUTSIDE_MEDIA)
    claim = merge(_claimed_ms(s, e, covered, dur_ms) for s, e in inside)
    new = subtract(claim, covered)
    if _length(new) < _length(claim):
        notes.add(Note.ALREADY_COVERED)

    frontier = covered[-1][1] if covered else 0
    credited: list[tuple[int, int]] = []
    for start, end in new:
        if remaining <= 0:
            notes.add(Note.CLIPPED_TO_BUDGET)
            break
        if policy.no_seek_ahead:
            limit = frontier + remaining
            if start >= limit:
                notes.add(Note.SEEK_AHEAD)
                continue
            if end > limit:
                notes.add(Note.SEEK_AHEAD)
                end = limit
        take = min(end - start, remaining)
        if take < end - start:
            notes.add(Note.CLIPPED_TO_BUDGET)
        credited.append((int(start), int(start + take)))
        remaining -= take
        frontier = max(frontier, start + take)
    if Note.CLIPPED_TO_BUDGET in notes:
        notes |= cut_by

    credited_ms = int(_length(credited))
    after = union(covered, credited)
    next_challenge_at = state.next_challenge_at
    if passed:
        # A deterministic fallback; the wrapper replaces it with now + next_challenge_delay(rng, policy).
        next_challenge_at = now + policy.challenge_min_interval_s
    new_state = replace(
        state,
        last_seq=hb.seq,
        last_accepted_at=now,
        credited_s=round(state.credited_s + credited_ms / 1000, 3),
        hidden_since=None if hb.visible else (state.hidden_since if state.hidden_since is not None else now),
        next_challenge_at=next_challenge_at,
        challenge=None if passed else pending,
        covered=_seconds(after),
    )
    issue = (
        policy.challenges_enabled
        and new_state.challenge is None
        and next_challenge_at is not None
        and now >= next_challenge_at
    )
    covered_s, percent, completed = _progress(after, dur_ms, policy)
    return Decision(
        accepted=True,
        reason=None,
        ends_session=False,
        credited=_seconds(credited),
        credited_s=credited_ms / 1000,
        state=new_state,
        notes=tuple(n for n in Note if n in notes),
        issue_challenge=issue,
        covered_s=covered_s,
        percent=percent,
        completed=completed,
        challenge_passed=passed,
    )


def minutes_to_hours(seconds: float, minutes_per_hour: int) -> Decimal:
    """Verified seconds -> 学时 (``minutes_per_hour`` minutes make one), rounded down to 0.01."""
    if isinstance(minutes_per_hour, bool) or not (isinstance(minutes_per_hour, int) and minutes_per_hour > 0):
        raise ValueError(f"minutes_per_hour must be a positive int, not {minutes_per_hour!r}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a non-negative number, not {seconds!r}")
    hundredths = _ms_floor(seconds) * 100 // (60_000 * minutes_per_hour)
    return Decimal(hundredths).scaleb(-2)
