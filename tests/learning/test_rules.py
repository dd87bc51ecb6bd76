"""The learning-hours decision core: each rule against the cheat it defeats and the viewer it spares."""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest

from lms.learning.rules import (
    ENDING_REASONS,
    MAX_RANGES,
    Challenge,
    CreditPolicy,
    Decision,
    Heartbeat,
    Note,
    Reason,
    SessionState,
    clip,
    coverage,
    end_session,
    evaluate,
    make_challenge,
    merge,
    minutes_to_hours,
    new_session,
    next_challenge_delay,
    subtract,
    total,
    union,
    with_challenge,
)

P = CreditPolicy(challenges_enabled=False)
EPS = 1e-6


def start(
    duration: float = 300.0, covered=(), policy: CreditPolicy = P, now: float = 0.0, seed: int = 0
) -> SessionState:
    return new_session(now, duration, covered, policy, random.Random(seed))


def beat(seq: int, *ranges, position=None, rate=1.0, visible=True, cid=None, answer=None) -> Heartbeat:
    if position is None:
        position = ranges[-1][1] if ranges else 0.0
    return Heartbeat(seq, position, tuple(ranges), rate, visible, cid, answer)


class Player:
    """Drives one session the way the wrapper will: stores the state, issues and schedules challenges."""

    def __init__(self, state: SessionState, policy: CreditPolicy = P, seed: int = 0) -> None:
        self.state, self.policy, self.rng = state, policy, random.Random(seed)
        self.seq = 0
        self.challenge: Challenge | None = None
        self.decisions: list[Decision] = []

    def send(self, now: float, *ranges, seq=None, **kw) -> Decision:
        if seq is None:
            self.seq += 1
            seq = self.seq
        d = evaluate(self.state, beat(seq, *ranges, **kw), now, self.policy)
        self.state = d.state
        if d.issue_challenge:
            self.challenge = make_challenge(self.rng)
            self.state = with_challenge(self.state, self.challenge, now, self.policy)
        if d.challenge_passed:
            self.state = replace(
                self.state, next_challenge_at=now + next_challenge_delay(self.rng, self.policy)
            )
        self.decisions.append(d)
        return d

    def answer(self, now: float, *ranges, right: bool = True) -> Decision:
        assert self.challenge is not None
        wrong = next(o for o in self.challenge.options if o != self.challenge.answer)
        return self.send(
            now, *ranges, cid=self.challenge.id, answer=self.challenge.answer if right else wrong
        )

    @property
    def credited(self) -> float:
        return sum(d.credited_s for d in self.decisions)


def watch(player: Player, until: float, *, t0: float = 0.0, pos0: float = 0.0, step: float = 15.0) -> float:
    """Honest 1x play from ``pos0`` at server time ``t0``, a heartbeat every ``step`` s; returns the end."""
    t, pos = t0, pos0
    while t + step <= until + EPS:
        t += step
        player.send(t, (pos, pos + step))
        pos += step
    return pos


# ------------------------------------------------------------------------------------------------------------
# Interval arithmetic


def test_merge_sorts_merges_overlapping_and_touching_and_drops_empty():
    assert merge([(5, 7), (0, 2), (1, 3), (3, 4), (9, 9), (12, 10), (8, 8.5)]) == [(0, 4), (5, 7), (8, 8.5)]
    assert merge([]) == []
    assert merge([(0, math.nan), (1, 2)]) == [(1, 2)]


def test_union_subtract_total_clip():
    assert union([(0, 10)], [(5, 15), (20, 25)]) == [(0, 15), (20, 25)]
    assert subtract([(0, 10), (20, 30)], [(2, 3), (5, 22), (25, 26), (29, 40)]) == [
        (0, 2),
        (3, 5),
        (22, 25),
        (26, 29),
    ]
    assert subtract([(0, 10)], [(0, 10)]) == []
    assert subtract([(0, 10)], []) == [(0, 10)]
    assert subtract([], [(0, 1)]) == []
    assert total([(0, 10), (5, 15), (20, 21)]) == 16.0
    assert clip([(-5, 3), (10, 400), (500, 600)], 0, 300) == [(0, 3), (10, 300)]


def test_subtract_and_union_agree_with_a_brute_force_grid():
    rng = random.Random(7)

    def cells(ranges):
        return {x for s, e in ranges for x in range(s, e)}

    def rand():
        return [(a, a + rng.randint(0, 8)) for a in (rng.randint(0, 40) for _ in range(rng.randint(0, 6)))]

    for _ in range(500):
        a, b = rand(), rand()
        assert cells(subtract(a, b)) == cells(a) - cells(b)
        assert cells(union(a, b)) == cells(a) | cells(b)
        assert total(subtract(a, b)) == len(cells(a) - cells(b))
        result = subtract(a, b)
        assert result == merge(result)


# ------------------------------------------------------------------------------------------------------------
# Honest viewers


def test_honest_viewer_with_network_jitter_completes_300s_lesson_after_about_285s():
    rng = random.Random(3)
    player = Player(start())
    play_start = 0.8  # buffering before the first frame
    completed_at = None
    for i in range(1, 21):
        now = play_start + 15 * i + rng.uniform(0.05, 1.0)  # sent every 15 s of play, arrives with latency
        d = player.send(now, (15 * (i - 1), 15 * i))
        assert d.accepted
        assert d.credited == ((15.0 * (i - 1), 15.0 * i),), d.notes
        assert d.notes == ()
        assert player.credited <= now - player.state.started_at
        if d.completed and completed_at is None:
            completed_at, completed_i = now, i
    assert completed_i == 19 and 285 < completed_at < 288
    assert player.decisions[-1].percent == 100
    assert player.decisions[-1].covered_s == 300.0


def test_honest_pause_and_resume_and_a_second_session_lose_nothing():
    player = Player(start())
    watch(player, 60)
    d = player.send(64, (60, 64))  # pause heartbeat 4 s later
    assert d.credited_s == 4.0
    d = player.send(64 + 300 + 15, (64, 79))  # resumes after a 5-minute pause
    assert d.credited_s == 15.0
    assert d.covered_s == 79.0
    # Next day, a new session continues where the union ends; the old coverage carries over.
    second = Player(start(covered=player.state.covered, now=100_000.0))
    d = second.send(100_015.0, (79, 94))
    assert d.credited == ((79.0, 94.0),)
    assert d.covered_s == 94.0


def test_progress_never_decreases_and_the_ledger_matches_the_state():
    player = Player(start())
    watch(player, 150)
    percents = [d.percent for d in player.decisions]
    assert percents == sorted(percents)
    assert player.state.credited_s == player.credited == 150.0


# ------------------------------------------------------------------------------------------------------------
# Forged, replayed, sped-up and burst heartbeats


def test_forged_one_shot_claiming_the_whole_lesson_right_after_start_earns_at_most_the_tolerance():
    for now in (0.0, 0.5, 1.0):
        d = evaluate(start(), beat(1, (0, 300)), now, P)
        assert d.accepted
        assert d.credited_s <= P.tolerance_s
        assert d.credited_s <= now * P.max_rate + P.tolerance_s
        assert not d.completed
    assert evaluate(start(), beat(1, (0, 300)), 0.0, P).credited_s == 0
    d = evaluate(start(), beat(1, (0, 300)), 0.5, P)
    assert Note.CLIPPED_TO_BUDGET in d.notes


def test_forged_one_shot_after_a_long_silence_earns_at_most_one_heartbeats_cap():
    d = evaluate(start(), beat(1, (0, 300)), 500.0, P)
    assert d.credited == ((0.0, 30.0),)
    assert d.credited_s == P.max_credit_per_heartbeat_s


def test_replayed_and_out_of_order_sequence_numbers_earn_nothing_and_change_nothing():
    player = Player(start())
    watch(player, 30)
    before = player.state
    for seq in (2, 1, 2):
        d = player.send(31, (30, 45), seq=seq)
        assert not d.accepted and d.reason is Reason.REPLAYED and not d.ends_session
        assert d.credited == () and d.credited_s == 0
        assert d.state == before
        assert d.covered_s == 30.0 and d.percent == 10
    d = player.send(45, (30, 45), seq=3)
    assert d.accepted and d.credited_s == 15.0


def test_constant_body_replayed_every_second_earns_one_heartbeat():
    """CELA pulseSaveRecord: one captured request replayed every second."""
    state = start()
    captured = beat(1, (0, 10), rate=2.0)
    earned = 0.0
    for now in range(10, 120):
        d = evaluate(state, captured, float(now), P)
        state, earned = d.state, earned + d.credited_s
    assert earned == 10.0


def test_double_speed_earns_wall_time_per_heartbeat_and_cumulatively():
    player = Player(start())
    for i in range(1, 11):
        now = 15.0 * i
        d = player.send(now, (30 * (i - 1), 30 * i), rate=2.0)
        assert d.credited_s <= 15 + P.tolerance_s
        assert player.credited <= now * P.max_rate + P.tolerance_s
        assert Note.RATE_ABOVE_MAX in d.notes
        assert Note.CLIPPED_TO_BUDGET in d.notes
    assert player.decisions[-1].covered_s <= 152.0
    assert not player.decisions[-1].completed


def test_burst_of_100_heartbeats_within_one_second_earns_at_most_one_second_plus_tolerance():
    player = Player(start())
    for i in range(100):
        player.send(0.01 * (i + 1), (15 * i, 15 * (i + 1)))
    assert all(d.accepted for d in player.decisions)
    assert player.credited <= 1.0 * P.max_rate + P.tolerance_s


def test_burst_after_a_long_pause_cannot_cash_in_the_slack():
    """The cumulative bound has slack after a pause; tolerance accrues with time, so a burst stays small."""
    player = Player(start())
    watch(player, 60)
    before = player.credited
    for i in range(100):
        player.send(400 + 0.01 * i, (60 + 15 * i, 75 + 15 * i))
    burst = player.credited - before
    assert burst <= P.max_credit_per_heartbeat_s + 1.0 * P.max_rate + P.tolerance_s


# ------------------------------------------------------------------------------------------------------------
# Seeking, re-watching, media bounds


def test_seek_to_the_end_earns_only_the_budget():
    player = Player(start())
    watch(player, 60)
    d = player.send(75, (280, 300))
    assert d.credited == ((280.0, 297.0),)
    assert Note.CLIPPED_TO_BUDGET in d.notes
    assert not d.completed


def test_no_seek_ahead_refuses_a_jump_beyond_frontier_plus_budget():
    policy = replace(P, no_seek_ahead=True)
    player = Player(start(policy=policy), policy)
    watch(player, 60)
    d = player.send(75, (280, 300))
    assert d.accepted and d.credited == () and Note.SEEK_AHEAD in d.notes
    d = player.send(90, (65, 80))  # a small skip: credited up to frontier 60 + budget 17
    assert d.credited == ((65.0, 77.0),)
    assert Note.SEEK_AHEAD in d.notes


def test_no_seek_ahead_lets_consecutive_play_extend_the_frontier_within_one_heartbeat():
    policy = replace(P, no_seek_ahead=True)
    player = Player(start(policy=policy), policy)
    watch(player, 60)
    d = player.send(100, (60, 74), (74.5, 88))  # 40 s since the last heartbeat: budget 30
    assert d.credited == ((60.0, 74.0), (74.5, 88.0))
    assert Note.SEEK_AHEAD not in d.notes
    d = player.send(140, (88, 98), (200, 210))  # play, then a jump
    assert d.credited == ((88.0, 98.0),)
    assert Note.SEEK_AHEAD in d.notes


def test_no_seek_ahead_still_fills_holes_behind_the_frontier():
    policy = replace(P, no_seek_ahead=True)
    state = start(covered=[(0, 60), (100, 120)], policy=policy)
    d = evaluate(state, beat(1, (60, 75)), 15.0, policy)
    assert d.credited == ((60.0, 75.0),)


def test_rewatching_earns_nothing():
    player = Player(start())
    watch(player, 60)
    d = player.send(75, (0, 15))
    assert d.credited == () and d.notes == (Note.ALREADY_COVERED,)
    d = player.send(90, (50, 65))
    assert d.credited == ((60.0, 65.0),) and Note.ALREADY_COVERED in d.notes
    assert player.state.credited_s == 65.0
    other = Player(start(covered=player.state.covered, now=1000.0))
    d = other.send(1015.0, (0, 15))
    assert d.credited == () and d.credited_s == 0


def test_ranges_outside_the_media_earn_nothing():
    state = start(covered=[(0, 290)])
    d = evaluate(state, beat(1, (295, 320), (400, 500), position=320), 30.0, P)
    assert d.credited == ((295.0, 300.0),)
    assert Note.OUTSIDE_MEDIA in d.notes and Note.POSITION_IMPLAUSIBLE in d.notes


def test_budget_is_spent_in_ascending_order_and_the_rest_can_be_earned_later():
    state = start()
    d = evaluate(state, beat(1, (100, 110), (0, 10)), 12.0, P)  # budget 12 + 2 = 14
    assert d.credited == ((0.0, 10.0), (100.0, 104.0))
    d = evaluate(d.state, beat(2, (104, 110)), 30.0, P)
    assert d.credited == ((104.0, 110.0),)
    assert d.state.covered == ((0.0, 10.0), (100.0, 110.0))


# ------------------------------------------------------------------------------------------------------------
# Hidden page


def test_hidden_within_grace_earns():
    player = Player(start())
    d = player.send(15, (0, 15), visible=False)
    assert d.credited_s == 15 and d.state.hidden_since == 15
    d = player.send(22, (15, 22), visible=False)
    assert d.credited_s == 7 and d.state.hidden_since == 15
    d = player.send(37, (22, 37))  # back: the window still ends at 15 + grace, as nothing said so earlier
    assert d.credited == ((22.0, 27.0),) and d.state.hidden_since is None
    d = player.send(52, (37, 52))
    assert d.credited_s == 15


def test_hidden_beyond_grace_earns_nothing():
    player = Player(start())
    player.send(15, (0, 15), visible=False)
    d = player.send(30, (15, 30), visible=False)  # usable until 15 + 10
    assert d.credited_s <= P.hidden_grace_s + P.tolerance_s
    assert {Note.HIDDEN, Note.CLIPPED_TO_BUDGET} <= set(d.notes)
    for now in (45, 60, 75):
        d = player.send(now, (now - 15, now), visible=False)
        assert d.accepted and d.credited_s == 0 and Note.HIDDEN in d.notes
    d = player.send(90, (75, 90))  # visible again: this window was still hidden when it began
    assert d.credited_s == 0 and d.state.hidden_since is None
    d = player.send(105, (90, 105))
    assert d.credited_s == 15


def test_audio_policy_keeps_earning_while_hidden():
    audio = replace(P, hidden_grace_s=math.inf)
    player = Player(start(policy=audio), audio)
    player.send(15, (0, 15), visible=False)
    for now in (30, 45, 60):
        assert player.send(now, (now - 15, now), visible=False).credited_s == 15


# ------------------------------------------------------------------------------------------------------------
# Presence challenges


CP = CreditPolicy(challenges_enabled=True)


def challenged_player(seed: int = 1) -> tuple[Player, float]:
    """A player at the heartbeat that was issued a challenge; returns it and that time."""
    player = Player(start(duration=3600.0, policy=CP, seed=seed), CP, seed=seed)
    due = player.state.next_challenge_at
    assert due is not None and CP.challenge_min_interval_s <= due <= CP.challenge_max_interval_s
    t = pos = 0.0
    while player.state.challenge is None:
        t += 15
        d = player.send(t, (pos, pos + 15))
        pos += 15
        assert d.accepted and d.credited_s == 15
        assert d.issue_challenge == (t >= due)
    assert player.state.challenge is not None
    assert player.state.challenge.issued_at == t
    assert player.state.challenge.deadline == t + CP.challenge_timeout_s
    return player, t


def test_pending_challenge_freezes_credit_and_a_right_answer_resumes_it():
    player, t = challenged_player()
    pos = player.state.covered[-1][1]
    for k in (1, 2):
        d = player.send(t + 15 * k, (pos, pos + 15))
        assert d.accepted and d.credited_s == 0 and not d.issue_challenge
        assert Note.CHALLENGE_PENDING in d.notes
    d = player.answer(t + 33, (pos, pos + 33))
    assert d.accepted and d.challenge_passed and d.credited_s == 0
    assert d.state.challenge is None and d.state.last_accepted_at == t + 33
    next_at = player.state.next_challenge_at
    assert t + 33 + CP.challenge_min_interval_s <= next_at <= t + 33 + CP.challenge_max_interval_s
    d = player.send(t + 48, (pos, pos + 15))
    assert d.credited_s == 15 and d.notes == ()


def test_wrong_answer_ends_the_session():
    player, t = challenged_player()
    d = player.answer(t + 5, right=False)
    assert not d.accepted and d.reason is Reason.CHALLENGE_FAILED and d.ends_session
    assert d.state.ended is Reason.CHALLENGE_FAILED
    d = player.send(t + 20, (0, 15))
    assert not d.accepted and d.reason is Reason.CHALLENGE_FAILED and d.ends_session


def test_right_answer_with_the_wrong_id_ends_the_session():
    player, t = challenged_player()
    assert player.challenge is not None
    d = player.send(t + 5, cid="0" * 24, answer=player.challenge.answer)
    assert d.reason is Reason.CHALLENGE_FAILED and d.ends_session


def test_missing_the_deadline_ends_the_session_even_with_the_right_answer():
    player, t = challenged_player()
    d = player.answer(t + CP.challenge_timeout_s + 0.001)
    assert d.reason is Reason.CHALLENGE_FAILED and d.ends_session
    player, t = challenged_player(seed=2)
    d = player.send(t + CP.challenge_timeout_s + 15, (0, 15))
    assert d.reason is Reason.CHALLENGE_FAILED and d.ends_session
    player, t = challenged_player(seed=3)
    assert player.answer(t + CP.challenge_timeout_s).challenge_passed  # at the deadline is still in time


def test_answers_without_a_pending_challenge_are_ignored():
    player = Player(start())
    d = player.send(15, (0, 15), cid="abc", answer="12")
    assert d.accepted and d.credited_s == 15 and not d.challenge_passed


def test_challenges_off_never_issue():
    player = Player(start())
    assert player.state.next_challenge_at is None
    watch(player, 3000, step=15)
    assert not any(d.issue_challenge for d in player.decisions)


def test_make_challenge_is_a_two_second_question_a_blind_script_guesses_one_time_in_four():
    rng = random.Random(11)
    ranks: Counter[int] = Counter()
    first: Counter[bool] = Counter()
    ids = set()
    for _ in range(4000):
        c = make_challenge(rng)
        m = re.fullmatch(r"请选择 (\d+) ([+−]) (\d+) 的结果", c.prompt)
        assert m, c.prompt
        a, op, b = int(m[1]), m[2], int(m[3])
        assert c.answer == str(a + b if op == "+" else a - b)
        assert len(c.options) == 4 and len(set(c.options)) == 4 and c.answer in c.options
        assert all(o.isdigit() for o in c.options)
        assert re.fullmatch(r"[0-9a-f]{24}", c.id)
        ids.add(c.id)
        ranks[sorted(c.options, key=int).index(c.answer)] += 1
        first[c.options[0] == c.answer] += 1
    assert len(ids) == 4000
    assert all(850 <= ranks[r] <= 1150 for r in range(4)), ranks  # no "pick the middle one" strategy
    assert 850 <= first[True] <= 1150


def test_next_challenge_delay_is_within_the_policy_interval():
    rng = random.Random(5)
    delays = [next_challenge_delay(rng, CP) for _ in range(1000)]
    assert all(600 <= x <= 1200 for x in delays)
    assert max(delays) - min(delays) > 500


# ------------------------------------------------------------------------------------------------------------
# Session end


def test_a_heartbeat_after_the_ttl_expires_the_session():
    player = Player(start())
    watch(player, 30)
    d = player.send(30 + P.session_ttl_s + 0.001, (30, 45))
    assert not d.accepted and d.reason is Reason.EXPIRED and d.ends_session
    assert d.credited_s == 0 and d.state.ended is Reason.EXPIRED
    d = player.send(30 + P.session_ttl_s + 15, (30, 45))
    assert d.reason is Reason.EXPIRED and not d.accepted


def test_a_heartbeat_at_the_ttl_is_still_accepted_but_capped():
    player = Player(start())
    watch(player, 30)
    d = player.send(30 + P.session_ttl_s, (30, 630))
    assert d.accepted and d.credited_s == P.max_credit_per_heartbeat_s


def test_superseded_session_rejects_its_heartbeats():
    state = end_session(start(), Reason.SUPERSEDED)
    d = evaluate(state, beat(1, (0, 15)), 15.0, P)
    assert not d.accepted and d.reason is Reason.SUPERSEDED and d.ends_session and d.state == state
    assert end_session(state, Reason.ENDED).ended is Reason.SUPERSEDED  # the first end stands
    with pytest.raises(ValueError):
        end_session(start(), Reason.REPLAYED)
    assert frozenset({Reason.EXPIRED, Reason.SUPERSEDED, Reason.CHALLENGE_FAILED, Reason.ENDED}) == (
        ENDING_REASONS
    )


def test_server_clock_going_backwards_earns_nothing():
    player = Player(start())
    watch(player, 30)
    d = player.send(20, (30, 45))
    assert d.accepted and d.credited_s == 0


# ------------------------------------------------------------------------------------------------------------
# Malformed input


NAN, INF = math.nan, math.inf
MALFORMED = {
    "seq zero": beat(0, (0, 1)),
    "seq negative": beat(-1, (0, 1)),
    "seq float": Heartbeat(1.5, 0, ((0, 1),), 1.0, True),  # type: ignore[arg-type]
    "seq bool": Heartbeat(True, 0, ((0, 1),), 1.0, True),
    "seq str": Heartbeat("1", 0, ((0, 1),), 1.0, True),  # type: ignore[arg-type]
    "seq overflows": beat(2**31, (0, 1)),
    "position negative": beat(1, (0, 1), position=-1.0),
    "position nan": beat(1, (0, 1), position=NAN),
    "position inf": beat(1, (0, 1), position=INF),
    "rate negative": beat(1, (0, 1), rate=-1.0),
    "rate nan": beat(1, (0, 1), rate=NAN),
    "start after end": beat(1, (5, 3)),
    "negative start": beat(1, (-1, 2)),
    "nan start": beat(1, (NAN, 1)),
    "inf end": beat(1, (0, INF)),
    "too many ranges": beat(1, *[(i, i + 0.5) for i in range(MAX_RANGES + 1)]),
    "triple": Heartbeat(1, 0, ((0, 1, 2),), 1.0, True),  # type: ignore[arg-type]
    "string range": Heartbeat(1, 0, ("ab",), 1.0, True),  # type: ignore[arg-type]
    "visible not bool": Heartbeat(1, 0, ((0, 1),), 1.0, "yes"),  # type: ignore[arg-type]
    "answer not str": beat(1, (0, 1), answer=12),
    "answer too long": beat(1, (0, 1), answer="1" * 201),
}


@pytest.mark.parametrize("hb", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_heartbeats_are_rejected_and_change_nothing(hb):
    state = start()
    d = evaluate(state, hb, 15.0, P)
    assert not d.accepted and d.reason is Reason.MALFORMED and not d.ends_session
    assert d.state == state and d.credited == () and d.credited_s == 0


def test_fifty_ranges_and_zero_length_ranges_are_fine():
    d = evaluate(start(), beat(1, *[(i * 0.3, i * 0.3 + 0.2) for i in range(MAX_RANGES)]), 15.0, P)
    assert d.accepted and d.credited_s == pytest.approx(10.0)
    d = evaluate(start(), beat(1, (5, 5), rate=0.0), 15.0, P)
    assert d.accepted and d.credited_s == 0


def test_policy_rejects_nonsense():
    for bad in (
        {"max_rate": 0},
        {"tolerance_s": -1},
        {"completion_share": 1.5},
        {"completion_share": 0},
        {"challenge_min_interval_s": 1300},
        {"session_ttl_s": math.nan},
        {"hidden_grace_s": -1},
    ):
        with pytest.raises(ValueError):
            CreditPolicy(**bad)


# ------------------------------------------------------------------------------------------------------------
# Completion, rounding, 学时


def test_completion_at_95_percent():
    assert coverage([(0, 284.999)], 300, P) == (284.999, 94, False)
    assert coverage([(0, 285)], 300, P) == (285.0, 95, True)
    assert coverage([(0, 150), (150, 300)], 300, P) == (300.0, 100, True)
    assert coverage([(-10, 400)], 300, P) == (300.0, 100, True)
    assert coverage([(0, 300.0416)], 300.0416, P)[1:] == (100, True)  # ffprobe durations are not whole ms
    assert coverage([(0, 10)], 0, P) == (0.0, 0, False)
    assert coverage([(0, 99)], 100, replace(P, completion_share=1.0))[2] is False


def test_credited_ends_are_whole_milliseconds_and_survive_json():
    state = start(covered=[(0, 10.0004)])
    assert state.covered == ((0.0, 10.001),)  # stored coverage is rounded outwards
    d = evaluate(state, beat(1, (10.0000001, 20.1234567)), 15.0, P)
    assert d.credited == ((10.001, 20.123),)  # claims are rounded inwards
    assert json.loads(json.dumps(d.state.covered)) == [list(r) for r in d.state.covered]
    assert d.state.covered == ((0.0, 20.123),)
    d2 = evaluate(d.state, beat(2, (0.3, 20.4)), 30.0, P)
    assert d2.credited == ((20.123, 20.4),)


def test_minutes_to_hours_rounds_down_to_a_hundredth():
    assert minutes_to_hours(2700, 45) == Decimal("1.00")
    assert str(minutes_to_hours(2700, 45)) == "1.00"
    assert minutes_to_hours(2699.999, 45) == Decimal("0.99")
    assert minutes_to_hours(27.0, 45) == Decimal("0.01")
    assert minutes_to_hours(26.999, 45) == Decimal("0.00")
    assert minutes_to_hours(5400, 60) == Decimal("1.50")
    assert minutes_to_hours(5399.9, 60) == Decimal("1.49")
    assert minutes_to_hours(0, 50) == Decimal("0.00")
    assert minutes_to_hours(0.1 + 0.2, 1) == Decimal("0.00")
    for bad in ((-1, 45), (math.nan, 45), (10, 0), (10, True)):
        with pytest.raises(ValueError):
            minutes_to_hours(*bad)


# ------------------------------------------------------------------------------------------------------------
# Randomized adversary


def _random_ranges(rng: random.Random, pos: float, duration: float, dt: float) -> list[tuple[float, float]]:
    kind = rng.random()
    if kind < 0.35:  # honest-ish
        return [(pos, pos + max(0.0, dt + rng.uniform(-1, 1)))]
    if kind < 0.45:  # the whole lesson
        return [(0.0, duration)]
    if kind < 0.55:  # 2x-5x
        return [(pos, pos + dt * rng.choice([2, 3, 5]))]
    if kind < 0.65:  # seek to the end
        return [(max(0.0, duration - rng.uniform(0, 60)), duration + rng.uniform(0, 20))]
    if kind < 0.72:  # nonsense
        return [rng.choice([(5.0, 3.0), (-1.0, 4.0), (math.nan, 1.0), (0.0, math.inf)])]
    if kind < 0.75:
        return [(float(i), i + 0.5) for i in range(rng.choice([MAX_RANGES, MAX_RANGES + 1]))]
    return [
        (a, a + rng.uniform(0, 40))
        for a in (rng.uniform(0, duration * 1.2) for _ in range(rng.randint(0, 6)))
    ]


def _random_dt(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.15:
        return 0.0
    if kind < 0.35:
        return rng.uniform(0, 1)
    if kind < 0.8:
        return rng.uniform(13, 17)
    if kind < 0.97:
        return rng.uniform(17, 200)
    return rng.uniform(550, 700)


def _check(before: SessionState, hb: Heartbeat, now: float, d: Decision, policy: CreditPolicy) -> None:
    dur = before.duration_s
    if not d.accepted:
        assert d.credited == () and d.credited_s == 0 and not d.issue_challenge
        assert d.ends_session == (d.reason in ENDING_REASONS)
        expected = replace(before, ended=before.ended or d.reason) if d.ends_session else before
        assert d.state == expected
        return
    assert d.reason is None and not d.ends_session
    credited = list(d.credited)
    assert credited == merge(credited)
    assert abs(total(credited) - d.credited_s) < EPS
    # New coverage only: disjoint from what was covered, inside the clipped claim.
    assert abs(total(subtract(credited, before.covered)) - d.credited_s) < EPS
    assert total(subtract(credited, clip(hb.ranges, 0, dur))) < EPS
    assert d.state.covered == tuple(union(before.covered, credited))
    assert all(0 <= s < e <= dur for s, e in d.state.covered)
    # Per-heartbeat bounds.
    assert d.credited_s <= policy.max_credit_per_heartbeat_s + EPS
    window_end = now
    if before.hidden_since is not None:
        window_end = min(window_end, before.hidden_since + policy.hidden_grace_s)
    if before.challenge is not None:
        window_end = min(window_end, before.challenge.issued_at)
    usable = max(0.0, window_end - before.last_accepted_at)
    assert d.credited_s <= usable * policy.max_rate + min(usable, policy.tolerance_s) + EPS
    assert d.state.last_seq == hb.seq > before.last_seq
    assert abs(d.state.credited_s - (before.credited_s + d.credited_s)) < EPS


def test_randomized_adversarial_sequences_keep_the_invariants():
    rng = random.Random(20240601)
    sessions = heartbeats = 0
    seen: Counter[object] = Counter()
    for _ in range(2000):
        policy = CreditPolicy(
            max_rate=rng.choice([1.0, 1.0, 1.5]),
            tolerance_s=rng.choice([0.0, 2.0, 2.0, 5.0]),
            no_seek_ahead=rng.random() < 0.3,
            challenges_enabled=rng.random() < 0.5,
            challenge_min_interval_s=rng.choice([20.0, 600.0]),
            challenge_max_interval_s=1200.0,
            hidden_grace_s=rng.choice([10.0, 10.0, math.inf]),
        )
        duration = rng.choice([0.5, 30.0, 300.0, 300.0, 1234.5678, 3600.0])
        covered = [
            (a, a + rng.uniform(0, 100))
            for a in (rng.uniform(-10, duration) for _ in range(rng.randint(0, 3)))
        ]
        now = rng.uniform(0, 1e6)
        last_percent, last_covered_s = -1, -1.0
        for _session in range(rng.randint(1, 3)):
            sessions += 1
            state = new_session(now, duration, covered, policy, rng)
            assert all(0 <= s < e <= duration for s, e in state.covered)
            answer: Challenge | None = None
            seq, pos = 0, 0.0
            for _ in range(rng.randint(1, 30)):
                heartbeats += 1
                dt = _random_dt(rng)
                now += dt
                r = rng.random()
                seq = seq + 1 if r < 0.85 else (max(0, seq - rng.randint(0, 2)) if r < 0.95 else seq + 1000)
                ranges = _random_ranges(rng, pos, duration, dt)
                cid = ans = None
                if state.challenge is not None and answer is not None and rng.random() < 0.5:
                    cid, ans = answer.id, answer.answer if rng.random() < 0.85 else "wrong"
                elif rng.random() < 0.03:
                    cid, ans = "stale", "1"
                position = pos if rng.random() < 0.9 else rng.uniform(0, 2 * duration + 10)
                rate = rng.choice([1.0, 1.0, 2.0])
                hb = Heartbeat(seq, position, tuple(ranges), rate, rng.random() < 0.8, cid, ans)
                d = evaluate(state, hb, now, policy)
                _check(state, hb, now, d, policy)
                seen.update([d.reason, *d.notes, "passed" if d.challenge_passed else None])
                seen.update(["issued" if d.issue_challenge else None, "completed" if d.completed else None])
                assert d.percent >= last_percent and d.covered_s >= last_covered_s - EPS
                last_percent, last_covered_s = d.percent, d.covered_s
                assert (d.covered_s, d.percent, d.completed) == coverage(d.state.covered, duration, policy)
                state = d.state
                if d.accepted:
                    pos = max(pos, max((e for _s, e in d.credited), default=pos))
                if d.issue_challenge:
                    answer = make_challenge(rng)
                    state = with_challenge(state, answer, now, policy)
                if d.challenge_passed:
                    state = replace(state, next_challenge_at=now + next_challenge_delay(rng, policy))
                # The cumulative bound: tolerance counted once per session.
                assert (
                    state.credited_s <= (now - state.started_at) * policy.max_rate + policy.tolerance_s + EPS
                )
                if d.ends_session:
                    assert state.ended is not None
                    again = evaluate(state, replace(hb, seq=seq + 1), now + 1, policy)
                    assert not again.accepted and again.ends_session and again.state == state
                    break
            covered = list(state.covered)
            now += rng.uniform(0, 1000)
    assert sessions > 3000 and heartbeats > 30_000
    # Every path was exercised.
    assert set(Reason) - {Reason.SUPERSEDED, Reason.ENDED} <= set(seen)
    assert set(Note) <= set(seen)
    assert {"passed", "issued", "completed"} <= set(seen)


def test_consecutive_claims_sharing_a_boundary_inside_a_millisecond_leave_no_gap():
    # A player reports the ranges played since its last heartbeat: 0–15.0004, then 15.0004–30.0007, ...
    # Rounding each claim inwards alone would leave a 1 ms hole per heartbeat (and one more interval).
    state, t, edge = start(), 0.0, 0.0
    for seq in range(1, 9):
        t += 15.0
        d = evaluate(state, beat(seq, (edge, t + 0.0004 * seq)), t, P)
        state, edge = d.state, t + 0.0004 * seq
    assert len(state.covered) == 1
    assert state.covered[0][0] == 0.0 and abs(state.covered[0][1] - edge) < 0.001
    # Playing back up to existing coverage from before joins it too; a real gap is still a gap.
    s2 = start(covered=[(20.0, 40.0)])
    assert evaluate(s2, beat(1, (5.0004, 19.9996)), 15.0, P).state.covered == ((5.001, 40.0),)
    assert evaluate(s2, beat(1, (5.0, 19.998)), 15.0, P).state.covered == ((5.0, 19.998), (20.0, 40.0))
