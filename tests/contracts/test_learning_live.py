"""Learning hours against a real running app over real HTTP (werkzeug in a thread), with the server's clock
(``lms.clock``) faked so minutes of viewing take milliseconds: cheats never earn more than real elapsed
time, an honest viewer gets the course's hours exactly once, every heartbeat is evidence, and on PostgreSQL
heartbeats of one session racing each other never double-credit."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.live import call_json, race, scratch_postgres, serve

TOLERANCE_S = 2.0


class Clock:
    """The server's clock: read by every request, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0  # 2026-09-21

    def __call__(self) -> float:
        return self.now


@dataclass
class Live:
    app: Flask
    base: str
    clock: Clock
    tokens: dict[str, str]
    user_ids: dict[str, int]
    lessons: list[int]  # the 1.5 学时 course's two 60 s lessons
    long_lesson: int  # a 600 s lesson of another course (room to earn across presence checks)
    course_id: int


LEARNERS = (
    "honest",
    "cheat",
    "order",
    "seek",
    "hidden",
    "tabs",
    "silent",
    "answers",
    "racer",
    "starter",
    "dropped",
)


def _seed(app: Flask, clock: Clock) -> dict[str, Any]:
    from lms.catalog import services as catalog
    from lms.catalog.queries import active_lessons
    from lms.catalog.validation import clean_course_data
    from lms.media.models import AssetKind, AssetStatus, MediaAsset
    from tests.factories import bearer, make_admin, make_org, make_teacher, make_user

    org = make_org(name="党校")
    teacher = make_teacher(org=org)
    admin = make_admin(of=org)

    def course(title: str, hours: str, durations: list[float]) -> Any:
        assets = []
        for n, duration in enumerate(durations, 1):
            asset = MediaAsset(
                owner_id=teacher.id,
                org_id=org.id,
                kind=AssetKind.VIDEO,
                title=f"{title}第{n}讲",
                status=AssetStatus.READY,
                source_key=f"uploads/{uuid.uuid4().hex}/{n}",
                duration_s=duration,
                playlist_key=f"media/{n}/t/master.m3u8",
                output_prefix=f"media/{n}/t/",
            )
            db.session.add(asset)
            db.session.flush()
            assets.append(asset)
        data = clean_course_data(
            {
                "title": title,
                "hours": hours,
                "lessons": [{"title": a.title, "media_asset_id": a.id} for a in assets],
            }
        )
        created = catalog.create_course(actor=teacher, org=org, data=data)
        catalog.submit_for_review(actor=teacher, course=created)
        catalog.approve(actor=admin, course=created)
        return created

    main = course("党章党规党纪专题", "1.5", [60.0, 60.0])
    long = course("长课", "1", [600.0])
    users = {name: make_user(org=org) for name in LEARNERS}
    seeded = {
        "tokens": {name: bearer(user)["Authorization"] for name, user in users.items()},
        "user_ids": {name: user.id for name, user in users.items()},
        "lessons": [lesson.id for lesson in active_lessons(main.id)],
        "long_lesson": active_lessons(long.id)[0].id,
        "course_id": main.id,
    }
    db.session.commit()
    return seeded


def _serve(database_url: str, instance: Path, **overrides: str) -> Iterator[Live]:
    from flask_migrate import upgrade

    app = create_app(make_settings(instance, LMS_DATABASE_URL=database_url, **overrides))
    clock = Clock()
    app.extensions["lms.clock"] = clock
    with app.app_context():
        upgrade()
        seeded = _seed(app, clock)
    try:
        with serve(app) as base:
            yield Live(app=app, base=base, clock=clock, **seeded)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """SQLite file; presence checks every minute exactly (so one falls due within a 60 s lesson)."""
    instance = tmp_path_factory.mktemp("learning_live")
    yield from _serve(
        f"sqlite:///{instance / 'live.sqlite'}",
        instance,
        LMS_CHALLENGE_MIN_MINUTES="1",
        LMS_CHALLENGE_MAX_MINUTES="1",
    )


# ----------------------------------------------------------------------------------------------------
# HTTP


def _call(
    method: str, url: str, token: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    return call_json(method, url, {"Authorization": token}, body)


ENDED_ERRORS = {
    "playback_superseded": "superseded",
    "playback_expired": "expired",
    "challenge_failed": "challenge_failed",
}


@dataclass
class Player:
    """One tab of one learner: starts a playback and sends heartbeats, remembering what it sent."""

    live: Live
    who: str
    session_id: str = ""
    started_at: float = 0.0
    credited: float = 0.0
    sent: list[tuple[bool, str | None]] = field(default_factory=list)  # (accepted, reason) per heartbeat

    @property
    def token(self) -> str:
        return self.live.tokens[self.who]

    def start(self, lesson_id: int) -> dict[str, Any]:
        status, body = _call("POST", f"{self.live.base}/api/v1/lessons/{lesson_id}/playback", self.token, {})
        assert status == 201, body
        self.session_id, self.started_at = body["session_id"], self.live.clock.now
        self.credited, self.sent = 0.0, []
        return body

    def beat(
        self, seq: int, ranges: list[list[float]], *, rate: float = 1.0, visible: bool = True, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        body = {
            "seq": seq,
            "position_s": ranges[-1][1] if ranges else 0,
            "ranges": ranges,
            "rate": rate,
            "visible": visible,
        } | extra
        status, answer = _call(
            "POST", f"{self.live.base}/api/v1/playback/{self.session_id}/heartbeat", self.token, body
        )
        if status == 200:
            self.credited += answer["accepted_s"]
            self.sent.append((answer["accepted"], answer["rejected"]))
        else:
            assert status == 409, (status, answer)
            self.sent.append((False, ENDED_ERRORS[answer["error"]]))
        self.check_invariant()
        return status, answer

    def earn(self, seq: int, ranges: list[list[float]], **kwargs: Any) -> float:
        status, body = self.beat(seq, ranges, **kwargs)
        assert status == 200, body
        return float(body["accepted_s"])

    def check_invariant(self) -> None:
        """Nothing earns more than real elapsed time (at 1×) plus the tolerance."""
        assert self.credited <= (self.live.clock.now - self.started_at) * 1.0 + TOLERANCE_S

    def check_evidence(self) -> None:
        """Every heartbeat sent is a row, accepted or rejected, with its reason; the stored total agrees."""
        from lms.learning.models import HeartbeatRecord, PlaybackSession

        with self.live.app.app_context():
            session = db.session.scalar(
                select(PlaybackSession).where(PlaybackSession.public_id == self.session_id)
            )
            assert session is not None
            rows = db.session.scalars(
                select(HeartbeatRecord)
                .where(HeartbeatRecord.session_id == session.id)
                .order_by(HeartbeatRecord.id)
            ).all()
            assert [(row.accepted, row.reason) for row in rows] == self.sent
            assert sum(row.credited_s for row in rows) == pytest.approx(self.credited, abs=0.01)
            assert session.credited_s == pytest.approx(self.credited, abs=0.01)
            assert session.heartbeats == len(self.sent)


def _tick(live: Live, seconds: float) -> None:
    live.clock.now += seconds


def _answer(prompt: str) -> str:
    match = re.fullmatch(r"请选择 (\d+) ([+−]) (\d+) 的结果", prompt)
    assert match, prompt
    a, op, b = int(match[1]), match[2], int(match[3])
    return str(a + b if op == "+" else a - b)


def _ledger(live: Live, who: str) -> list[tuple[float, str]]:
    from lms.learning.models import LedgerEntry

    with live.app.app_context():
        entries = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == live.user_ids[who]).order_by(LedgerEntry.id)
        ).all()
        return [(float(e.hours), e.reference) for e in entries]


# ----------------------------------------------------------------------------------------------------
# Scenarios (SQLite, one request at a time)


def test_an_honest_viewer_at_1x_completes_the_course_and_gets_its_hours_exactly_once(live):
    last: dict[str, Any] = {}
    for lesson_id in live.lessons:
        player = Player(live, "honest")
        player.start(lesson_id)
        for seq, position in enumerate(range(0, 60, 15), 1):
            _tick(live, 15)
            status, last = player.beat(seq, [[position, position + 15]])
            assert status == 200 and last["accepted_s"] == pytest.approx(15), last
        assert last["lesson"]["completed"] is True and last["lesson"]["percent"] == 100
        player.check_evidence()
    assert last["course_completed"] is True
    assert _ledger(live, "honest") == [(1.5, f"course:{live.course_id}")]
    # Watching the first lesson again credits nothing new, and no second ledger row
    again = Player(live, "honest")
    again.start(live.lessons[0])
    for seq, position in enumerate(range(0, 60, 15), 1):
        _tick(live, 15)
        status, body = again.beat(seq, [[position, position + 15]])
        assert status == 200 and body["accepted_s"] == 0 and body["course_completed"] is False
    again.check_evidence()
    assert _ledger(live, "honest") == [(1.5, f"course:{live.course_id}")]
    status, mine = _call("GET", f"{live.base}/api/v1/me/learning-hours", live.tokens["honest"])
    assert status == 200 and mine["earned"] == 1.5, mine


def test_forged_one_shot_2x_speed_and_a_burst_of_100_earn_no_more_than_elapsed_time(live):
    player = Player(live, "cheat")
    player.start(live.lessons[0])
    _tick(live, 1)
    assert player.earn(1, [[0, 60]]) <= 1 + TOLERANCE_S  # the whole lesson in one heartbeat
    _tick(live, 15)
    status, replay = player.beat(1, [[0, 60]])
    assert status == 200 and replay["accepted_s"] == 0 and replay["rejected"] == "replayed"
    for seq in (2, 3):  # 30 s of media every 15 s
        _tick(live, 15)
        player.earn(seq, [[0, 60]], rate=2.0)
    before = player.credited
    for seq in range(4, 104):  # 100 heartbeats within one second
        _tick(live, 0.01)
        player.earn(seq, [[0, 60]])
    assert player.credited - before <= 1 + TOLERANCE_S
    player.check_evidence()


def test_out_of_order_sequence_numbers_earn_nothing(live):
    player = Player(live, "order")
    player.start(live.lessons[0])
    _tick(live, 15)
    assert player.earn(5, [[0, 15]]) == pytest.approx(15)
    _tick(live, 15)
    status, late = player.beat(3, [[15, 30]])
    assert status == 200 and late["accepted_s"] == 0 and late["rejected"] == "replayed"
    status, same = player.beat(5, [[15, 30]])
    assert status == 200 and same["accepted_s"] == 0 and same["rejected"] == "replayed"
    _tick(live, 1)
    player.earn(6, [[15, 31]])  # the stream goes on with the next number
    player.check_evidence()


def test_a_seek_to_the_end_right_after_start_earns_at_most_elapsed_time(live):
    player = Player(live, "seek")
    player.start(live.lessons[0])
    _tick(live, 1)
    status, body = player.beat(1, [[55, 60]], position_s=60)
    assert status == 200 and body["accepted_s"] <= 1 + TOLERANCE_S
    assert body["lesson"]["completed"] is False and body["lesson"]["covered_s"] <= 1 + TOLERANCE_S
    _tick(live, 1)
    status, body = player.beat(2, [[0, 60]], position_s=60)  # and then claiming it all
    assert status == 200 and body["lesson"]["completed"] is False
    player.check_evidence()


def test_heartbeats_while_hidden_stop_earning_after_the_grace_and_resume_when_visible(live):
    player = Player(live, "hidden")
    player.start(live.lessons[0])
    _tick(live, 10)
    assert player.earn(1, [[0, 10]]) == pytest.approx(10)
    _tick(live, 10)
    assert player.earn(2, [[10, 20]], visible=False) == pytest.approx(10)  # hidden from now on
    _tick(live, 15)
    during_grace = player.earn(3, [[20, 35]], visible=False)
    assert during_grace <= 10 + TOLERANCE_S  # only the 10 s grace counts
    for seq in (4, 5):  # the clock goes on, the tab stays hidden: nothing
        _tick(live, 5)
        assert player.earn(seq, [[35 + (seq - 4) * 5, 40 + (seq - 4) * 5]], visible=False) == 0
    _tick(live, 2)
    assert player.earn(6, [[45, 47]], visible=True) == 0  # back: the hidden stretch still earns nothing
    _tick(live, 8)  # 55 s after start: before the first presence check (at 60 s)
    assert player.earn(7, [[47, 55]], visible=True) == pytest.approx(8)  # visible again: credit resumes
    player.check_evidence()


def _until_challenge(player: Player, live: Live) -> tuple[int, dict[str, Any]]:
    """Watch the long lesson honestly (15 s heartbeats) until a response carries a presence check."""
    for seq in range(1, 10):
        _tick(live, 15)
        status, body = player.beat(seq, [[(seq - 1) * 15, seq * 15]])
        assert status == 200, body
        if body["challenge"]:
            challenge = body["challenge"]
            assert set(challenge) == {"id", "prompt", "options", "expires_in_s"}
            assert challenge["expires_in_s"] == 60 and len(challenge["options"]) == 4
            assert _answer(challenge["prompt"]) in challenge["options"]
            return seq, challenge
    raise AssertionError("no presence check within 135 s with checks every 60 s")


def test_an_unanswered_presence_check_earns_nothing_and_then_ends_the_session(live):
    player = Player(live, "silent")
    player.start(live.long_lesson)
    seq, challenge = _until_challenge(player, live)
    issued_at, position = live.clock.now, seq * 15
    for _ in range(3):  # playing on without answering: no credit, the check stays pending
        seq += 1
        _tick(live, 15)
        status, body = player.beat(seq, [[position, position + 15]])
        position += 15
        assert status == 200 and body["accepted_s"] == 0 and body["challenge"]["id"] == challenge["id"]
    live.clock.now = issued_at + 61  # past the 60 s deadline
    status, failed = player.beat(seq + 1, [[position, position + 16]])
    assert status == 409 and failed["error"] == "challenge_failed", failed
    _tick(live, 15)
    status, after = player.beat(seq + 2, [[position, position + 15]])
    assert status == 409 and after["error"] == "challenge_failed"
    player.check_evidence()


def test_a_right_answer_to_the_presence_check_lets_credit_resume(live):
    player = Player(live, "answers")
    player.start(live.long_lesson)
    seq, challenge = _until_challenge(player, live)
    position = seq * 15
    _tick(live, 5)
    status, body = player.beat(
        seq + 1,
        [[position, position + 5]],
        challenge_answer={"id": challenge["id"], "answer": _answer(challenge["prompt"])},
    )
    assert status == 200 and body["accepted"] is True and body["challenge"] is None, body
    _tick(live, 15)
    assert player.earn(seq + 2, [[position + 5, position + 20]]) == pytest.approx(15)
    player.check_evidence()


def test_two_lessons_in_two_tabs_only_the_newest_session_earns(live):
    tab1, tab2 = Player(live, "tabs"), Player(live, "tabs")
    first_start = live.clock.now
    tab1.start(live.lessons[0])
    tab2.start(live.lessons[1])
    for seq in (1, 2, 3):
        _tick(live, 7.5)
        status, stale = tab1.beat(seq, [[(seq - 1) * 15, seq * 15]])
        assert status == 409 and stale["error"] == "playback_superseded", stale
        _tick(live, 7.5)
        assert tab2.earn(seq, [[(seq - 1) * 15, seq * 15]]) == pytest.approx(15)
    assert tab1.credited == 0
    assert tab1.credited + tab2.credited <= live.clock.now - first_start + TOLERANCE_S
    # The first tab plays again: now it is the newest, and the second tab stops
    tab1.start(live.lessons[0])
    _tick(live, 10)
    status, stale = tab2.beat(4, [[45, 55]])
    assert status == 409 and stale["error"] == "playback_superseded"
    assert tab1.earn(1, [[0, 10]]) == pytest.approx(10)
    tab1.check_evidence()
    tab2.check_evidence()


# ----------------------------------------------------------------------------------------------------
# PostgreSQL: real concurrent requests


@pytest.fixture(scope="module")
def pg_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with scratch_postgres("lms_learning") as url:
        yield from _serve(url, tmp_path_factory.mktemp("learning_pg"))


def test_parallel_heartbeats_of_one_session_never_double_credit(pg_live):
    from lms.learning.models import HeartbeatRecord, LessonProgress, PlaybackSession

    live = pg_live
    player = Player(live, "racer")
    player.start(live.lessons[0])
    url = f"{live.base}/api/v1/playback/{player.session_id}/heartbeat"

    def send(seq: int, ranges: list[list[float]]) -> tuple[int, dict[str, Any]]:
        body = {"seq": seq, "position_s": ranges[-1][1], "ranges": ranges, "rate": 1.0, "visible": True}
        return _call("POST", url, player.token, body)

    _tick(live, 15)
    same = race(20, lambda n: send(1, [[0, 15]]))
    assert Counter(status for status, _ in same) == Counter({200: 20}), same
    earned_same = [body["accepted_s"] for _, body in same]
    assert sum(1 for s in earned_same if s > 0) == 1, earned_same
    assert sum(earned_same) <= 15 + TOLERANCE_S
    assert sorted(body["rejected"] for _, body in same if body["accepted_s"] == 0) == ["replayed"] * 19

    _tick(live, 15)
    distinct = race(20, lambda n: send(2 + n, [[10 + n * 0.25, 30]]))
    assert {status for status, _ in distinct} <= {200, 409}, distinct
    earned_distinct = [body["accepted_s"] for status, body in distinct if status == 200]
    assert sum(earned_distinct) <= 15 + TOLERANCE_S, earned_distinct
    total = sum(earned_same) + sum(earned_distinct)
    assert total <= live.clock.now - player.started_at + TOLERANCE_S
    with live.app.app_context():
        progress = db.session.scalar(
            select(LessonProgress).where(
                LessonProgress.user_id == live.user_ids["racer"], LessonProgress.lesson_id == live.lessons[0]
            )
        )
        assert progress is not None
        assert progress.covered_s == pytest.approx(total, abs=0.01)
    # Every heartbeat is evidence; the order of arrival is unknown, so compare as multisets
    sent = Counter(
        (body["accepted"], body["rejected"]) if status == 200 else (False, ENDED_ERRORS[body["error"]])
        for status, body in same + distinct
    )

    with live.app.app_context():
        session = db.session.scalar(
            select(PlaybackSession).where(PlaybackSession.public_id == player.session_id)
        )
        assert session is not None and session.credited_s == pytest.approx(total, abs=0.01)
        rows = db.session.scalars(
            select(HeartbeatRecord).where(HeartbeatRecord.session_id == session.id)
        ).all()
        assert Counter((r.accepted, r.reason) for r in rows) == sent
        assert sum(r.credited_s for r in rows) == pytest.approx(total, abs=0.01)


def test_heartbeats_after_the_database_dropped_its_connections_are_answered_and_recorded_once(pg_live):
    """The heartbeat route keeps its own connections between heartbeats; when the database drops them
    (a restart), a heartbeat is at worst refused with a 503 that records nothing, its retry is credited,
    and every answered heartbeat is evidence exactly once."""
    from sqlalchemy import text

    live = pg_live
    player = Player(live, "dropped")
    player.start(live.long_lesson)
    for seq in (1, 2):
        _tick(live, 15)
        assert player.earn(seq, [[(seq - 1) * 15, seq * 15]]) == 15
    route = live.app.wsgi_app
    assert route.connections is not None
    before = list(route.connections.free)
    assert before  # the route keeps its connection between heartbeats
    with live.app.app_context():
        dropped = db.session.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
        db.session.commit()
    assert dropped >= 1  # the route's idle connection, and the pool's
    refused = 0
    for seq in (3, 4, 5):
        _tick(live, 15)
        url = f"{live.base}/api/v1/playback/{player.session_id}/heartbeat"
        body = {"seq": seq, "position_s": seq * 15, "ranges": [[(seq - 1) * 15, seq * 15]], "visible": True}
        for _attempt in range(4):  # as the player retries a 503
            status, answer = _call("POST", url, player.token, body)
            if status != 503:
                break
            assert answer["error"] == "service_unavailable", answer
            refused += 1
        assert status == 200 and answer["accepted_s"] == 15, (status, answer)
        player.credited += 15
        player.sent.append((True, None))
    assert refused <= 2  # (the pool's connection that the Flask view then tried may have been dropped too)
    player.check_evidence()
    # and the route answers again, on a new connection (the dropped ones were closed, not kept)
    after = list(route.connections.free)
    assert after and all(not c.closed for c in after) and not any(c in before for c in after)


def test_parallel_playback_starts_leave_exactly_one_active_session(pg_live):
    from lms.learning.models import PlaybackLease, PlaybackSession, SessionStatus

    live = pg_live
    token = live.tokens["starter"]
    results = race(
        12, lambda n: _call("POST", f"{live.base}/api/v1/lessons/{live.lessons[n % 2]}/playback", token, {})
    )
    statuses = Counter(status for status, _ in results)
    assert 500 not in statuses and statuses[201] >= 1, results
    assert set(statuses) <= {201, 409}, results
    with live.app.app_context():
        sessions = db.session.scalars(
            select(PlaybackSession).where(PlaybackSession.user_id == live.user_ids["starter"])
        ).all()
        active = [s for s in sessions if s.status == SessionStatus.ACTIVE]
        assert len(active) == 1, [(s.public_id, s.status, s.ended_reason) for s in sessions]
        assert {s.ended_reason for s in sessions if s is not active[0]} <= {"superseded"}
        assert len(sessions) == statuses[201]
        lease = db.session.get(PlaybackLease, live.user_ids["starter"])
        assert lease is not None and lease.session_id == active[0].id
        survivor = active[0].public_id
    # The survivor earns; every other started session is told it was superseded
    _tick(live, 15)
    for status, body in results:
        if status != 201:
            continue
        code, answer = _call(
            "POST",
            f"{live.base}/api/v1/playback/{body['session_id']}/heartbeat",
            token,
            {"seq": 1, "position_s": 15, "ranges": [[0, 15]], "rate": 1.0, "visible": True},
        )
        if body["session_id"] == survivor:
            assert code == 200 and answer["accepted_s"] > 0, answer
        else:
            assert code == 409 and answer["error"] == "playback_superseded", answer
