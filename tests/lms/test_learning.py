"""Learning hours through the HTTP API with a controlled server clock (the app's ``lms.clock``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.catalog import services as catalog
from lms.catalog.queries import active_lessons
from lms.catalog.validation import clean_course_data
from lms.core.db import db, utcnow
from lms.learning.models import HeartbeatRecord, LedgerEntry
from lms.media.models import AssetKind, AssetStatus, MediaAsset
from tests.factories import bearer, make_admin, make_org, make_teacher, make_user


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0  # 2026-09-21

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app):  # type: ignore[no-untyped-def]
    fake = Clock()
    app.extensions["lms.clock"] = fake
    yield fake
    app.extensions.pop("lms.clock", None)


@pytest.fixture
def course(app):  # type: ignore[no-untyped-def]
    """A published course with two 60 s lessons (ready media assets) worth 1.5 学时."""
    org = make_org(name="党校")
    teacher = make_teacher(org=org)
    assets = []
    for n in (1, 2):
        asset = MediaAsset(
            owner_id=teacher.id,
            org_id=org.id,
            kind=AssetKind.VIDEO,
            title=f"第{n}讲",
            status=AssetStatus.READY,
            source_key=f"uploads/x/{n}",
            duration_s=60.0,
            playlist_key=f"media/{n}/t/master.m3u8",
            output_prefix=f"media/{n}/t/",
        )
        db.session.add(asset)
        db.session.flush()
        assets.append(asset)
    data = clean_course_data(
        {
            "title": "党章党规党纪专题",
            "hours": "1.5",
            "lessons": [{"title": a.title, "media_asset_id": a.id} for a in assets],
        }
    )
    created = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=created)
    catalog.approve(actor=make_admin(of=org), course=created)
    return created


def _start(client, headers, lesson_id):  # type: ignore[no-untyped-def]
    response = client.post(f"/api/v1/lessons/{lesson_id}/playback", json={}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _beat(client, headers, session_id, seq, ranges, **extra):  # type: ignore[no-untyped-def]
    body = {"seq": seq, "position_s": ranges[-1][1] if ranges else 0, "ranges": ranges, "rate": 1.0}
    body |= {"visible": True} | extra
    return client.post(f"/api/v1/playback/{session_id}/heartbeat", json=body, headers=headers)


def _watch(client, headers, clock, session_id, start=0.0, end=60.0, step=15.0, seq=1):  # type: ignore[no-untyped-def]
    position = start
    while position < end:
        clock.now += step
        nxt = min(end, position + step)
        response = _beat(client, headers, session_id, seq, [[position, nxt]])
        assert response.status_code == 200, response.get_json()
        position, seq = nxt, seq + 1
    return response.get_json(), seq


def test_an_honest_viewer_completes_the_course_and_gets_its_hours_once(client, clock, course):
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    lessons = active_lessons(course.id)
    for lesson in lessons:
        started = _start(client, headers, lesson.id)
        assert started["duration_s"] == 60.0 and started["playlist_url"].endswith("/hls/master.m3u8")
        body, _ = _watch(client, headers, clock, started["session_id"])
        assert body["lesson"]["completed"] is True
    assert body["course_completed"] is True
    entries = db.session.query(LedgerEntry).filter_by(user_id=learner.id).all()
    assert [(float(e.hours), e.reference) for e in entries] == [(1.5, f"course:{course.id}")]
    # Watching it all again credits nothing more
    for lesson in lessons:
        again = _start(client, headers, lesson.id)
        body, _ = _watch(client, headers, clock, again["session_id"])
        assert body["accepted_s"] == 0
    assert db.session.query(LedgerEntry).filter_by(user_id=learner.id).count() == 1
    mine = client.get("/api/v1/me/learning-hours", headers=headers).get_json()
    assert mine["earned"] == 1.5 and mine["target"]["hours"] == 90 and mine["missing"] == 88.5
    assert mine["recent"][0]["title"] == "党章党规党纪专题"


def course_org(course):  # type: ignore[no-untyped-def]
    from lms.accounts.models import Organization

    return db.session.get(Organization, course.org_id)


def test_cheats_earn_no_more_than_elapsed_time(client, clock, course):
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    lesson = active_lessons(course.id)[0]
    session = _start(client, headers, lesson.id)["session_id"]
    started_at = clock.now
    # A forged one-shot heartbeat claiming the whole lesson right away
    clock.now += 1
    forged = _beat(client, headers, session, 1, [[0, 60]]).get_json()
    assert forged["accepted_s"] <= 1 + 2
    earned = forged["accepted_s"]
    # A replay of the same sequence number earns nothing
    clock.now += 15
    replay = _beat(client, headers, session, 1, [[0, 60]]).get_json()
    assert replay["accepted_s"] == 0 and replay["rejected"] == "replayed"
    # 2x speed: 30 s of media claimed every 15 s never outruns the clock
    for seq in range(2, 5):
        clock.now += 15
        earned += _beat(client, headers, session, seq, [[0, 60]], rate=2.0).get_json()["accepted_s"]
        assert earned <= clock.now - started_at + 2
    # A burst of 100 heartbeats within one second earns at most that second
    before = earned
    for seq in range(5, 105):
        clock.now += 0.01
        earned += _beat(client, headers, session, seq, [[0, 60]]).get_json()["accepted_s"]
    assert earned - before <= 1 + 2
    assert earned <= clock.now - started_at + 2
    records = db.session.query(HeartbeatRecord).filter_by(user_id=learner.id).count()
    assert records == 1 + 1 + 3 + 100  # every heartbeat is evidence, accepted or not


def test_a_second_tab_supersedes_the_first_which_then_earns_nothing(client, clock, course):
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    first, second = active_lessons(course.id)
    tab1 = _start(client, headers, first.id)["session_id"]
    tab2 = _start(client, headers, second.id)["session_id"]
    clock.now += 15
    stale = _beat(client, headers, tab1, 1, [[0, 15]])
    assert stale.status_code == 409
    assert stale.get_json()["error"] == "playback_superseded"
    assert "另一个" in stale.get_json()["message"] or "其他" in stale.get_json()["message"]
    assert _beat(client, headers, tab2, 1, [[0, 15]]).get_json()["accepted_s"] == 15


def test_someone_elses_session_and_invisible_lessons_are_not_found(client, clock, course):
    learner = make_user(org=course_org(course))
    session = _start(client, bearer(learner), active_lessons(course.id)[0].id)["session_id"]
    other = bearer(make_user(org=course_org(course)))
    assert _beat(client, other, session, 1, [[0, 15]]).status_code == 404
    outsider = bearer(make_user(org=make_org()))
    assert (
        client.post(
            f"/api/v1/lessons/{active_lessons(course.id)[0].id}/playback", headers=outsider
        ).status_code
        == 404
    )


def test_a_heartbeats_bearer_token_is_checked_like_any_other(client, clock, course):
    """The heartbeat checks its token inside the statement that locks the session: a revoked, expired or
    garbled token, a deactivated account or one that must change its password earns nothing."""
    from lms.accounts.models import ApiToken

    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    session = _start(client, headers, active_lessons(course.id)[0].id)["session_id"]
    clock.now += 15
    assert _beat(client, headers, session, 1, [[0, 15]]).get_json()["accepted_s"] == 15
    for garbled in ("", "Bearer", "Bearer nonsense", "Basic abc", "Bearer " + "x" * 300):
        response = _beat(client, {"Authorization": garbled}, session, 2, [[15, 30]])
        assert response.status_code == 401, garbled
    malformed = client.post(
        f"/api/v1/playback/{session}/heartbeat", json={"seq": "two"}, headers={"Authorization": "Bearer x"}
    )
    assert malformed.status_code == 401  # a bad token is refused before a bad body is judged

    learner.must_change_password = True
    db.session.commit()
    assert _beat(client, headers, session, 2, [[15, 30]]).status_code == 403
    learner.must_change_password = False
    db.session.commit()
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == learner.id)).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert _beat(client, headers, session, 2, [[15, 30]]).status_code == 401
    token.expires_at = utcnow() + timedelta(hours=1)
    learner.is_active = False
    db.session.commit()
    assert _beat(client, headers, session, 2, [[15, 30]]).status_code == 401
    learner.is_active = True
    token.revoked_at = utcnow()
    db.session.commit()
    assert _beat(client, headers, session, 2, [[15, 30]]).status_code == 401
    rows = db.session.scalars(select(HeartbeatRecord).where(HeartbeatRecord.user_id == learner.id)).all()
    assert [(r.seq, r.accepted) for r in rows] == [(1, True)]  # the refused ones left nothing


def test_admin_revokes_a_credit_with_a_reason_and_totals_follow(client, clock, course):
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    for lesson in active_lessons(course.id):
        _watch(client, headers, clock, _start(client, headers, lesson.id)["session_id"])
    entry = db.session.query(LedgerEntry).filter_by(user_id=learner.id).one()
    admin = make_admin(of=course_org(course))
    outsider_admin = make_admin(of=make_org())
    assert (
        client.post(
            f"/api/v1/ledger/{entry.id}/revoke", json={"reason": "x"}, headers=bearer(outsider_admin)
        ).status_code
        == 404
    )
    assert client.post(f"/api/v1/ledger/{entry.id}/revoke", json={}, headers=bearer(admin)).status_code == 422
    revoked = client.post(
        f"/api/v1/ledger/{entry.id}/revoke", json={"reason": "代学，经核实"}, headers=bearer(admin)
    )
    assert revoked.status_code == 201
    assert revoked.get_json()["entry"]["hours"] == -1.5
    assert (
        client.post(
            f"/api/v1/ledger/{entry.id}/revoke", json={"reason": "again"}, headers=bearer(admin)
        ).status_code
        == 409
    )
    assert client.get("/api/v1/me/learning-hours", headers=headers).get_json()["earned"] == 0
    from lms.audit.models import AuditEntry

    assert db.session.query(AuditEntry).filter_by(action="ledger.revocation").count() == 1


def test_a_course_can_forbid_skipping_ahead_of_the_furthest_point_watched(client, clock, course):
    admin = make_admin(of=course_org(course))
    data = clean_course_data(
        {
            "title": "党章党规党纪专题",
            "hours": "1.5",
            "no_seek_ahead": True,
            "lessons": course.published_revision.lessons,
        }
    )
    teacher = db.session.get(type(admin), course.created_by_id)
    catalog.edit_course(actor=teacher, course=course, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=admin, course=course)
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    session = _start(client, headers, active_lessons(course.id)[0].id)["session_id"]
    clock.now += 15
    jump = _beat(client, headers, session, 1, [[45, 60]]).get_json()
    assert jump["accepted_s"] == 0  # beyond the furthest point watched (0) plus the time available
    clock.now += 15
    assert _beat(client, headers, session, 2, [[0, 15]]).get_json()["accepted_s"] == 15


def test_electives_are_selected_listed_with_progress_dropped_and_counted_for_popularity(
    client, clock, course
):
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    assert client.post(f"/api/v1/courses/{course.id}/enrollment", headers=headers).status_code == 201
    assert client.post(f"/api/v1/courses/{course.id}/enrollment", headers=headers).status_code == 200  # once
    db.session.refresh(course)
    assert course.learner_count == 1
    mine = client.get("/api/v1/me/courses", headers=headers).get_json()
    assert [(i["title"], i["percent"], i["completed"], i["source"]) for i in mine["items"]] == [
        ("党章党规党纪专题", 0, False, "elective")
    ]
    first = active_lessons(course.id)[0]
    _watch(client, headers, clock, _start(client, headers, first.id)["session_id"])
    mine = client.get("/api/v1/me/courses?status=in_progress", headers=headers).get_json()
    assert mine["items"][0]["percent"] == 50 and mine["items"][0]["lessons_done"] == 1
    assert client.delete(f"/api/v1/courses/{course.id}/enrollment", headers=headers).status_code == 204
    assert client.get("/api/v1/me/courses", headers=headers).get_json()["items"] == []
    db.session.refresh(course)
    assert course.learner_count == 0
    # Studying a course puts it back in "my courses"; the progress was kept
    second = active_lessons(course.id)[1]
    _watch(client, headers, clock, _start(client, headers, second.id)["session_id"])
    done = client.get("/api/v1/me/courses?status=completed", headers=headers).get_json()["items"]
    assert [(i["percent"], i["completed"]) for i in done] == [(100, True)]
    # A completed course cannot be dropped
    assert client.delete(f"/api/v1/courses/{course.id}/enrollment", headers=headers).status_code == 409
    # Popularity (learners) feeds the search documents
    from lms.discovery.documents import build_documents

    db.session.refresh(course)
    documents, _ = build_documents([course])
    assert documents[0].popularity == 1


def test_presence_checks_can_be_turned_off(app):
    from lms.learning.playback import policy_from
    from tests.conftest import make_settings

    settings = make_settings(app.extensions["lms.settings"].instance_dir, LMS_CHALLENGE_MIN_MINUTES="0")
    assert policy_from(settings).challenges_enabled is False


def test_admins_set_targets_for_their_units_and_cadres_see_them(client, clock):
    from lms.accounts.models import Rank

    county = make_org(name="测试县")
    admin = make_admin(of=county)
    cadre = make_user(org=make_org(parent=county), rank=Rank.SECTION)
    division = make_user(org=make_org(parent=county), rank=Rank.DIVISION)
    before = client.get("/api/v1/me/learning-hours", headers=bearer(cadre)).get_json()["target"]
    assert before["hours"] == 90  # the default rule (domain.md)
    assert client.get("/api/v1/me/learning-hours", headers=bearer(division)).get_json()["target"] == {
        "hours": 110.0,
        "required_hours": 0.0,
        "window_years": 5,
        "label": "县处级：5 年 550 学时（每年 110 学时）",
    }
    rule = {
        "org_id": county.id,
        "rank": "section",
        "hours_per_year": 100,
        "required_hours": 50,
        "label": "本县乡科级",
    }
    created = client.post("/api/v1/learning/targets", json=rule, headers=bearer(admin))
    assert created.status_code == 201, created.get_json()
    mine = client.get("/api/v1/me/learning-hours", headers=bearer(cadre)).get_json()
    assert mine["target"]["hours"] == 100 and mine["required"]["missing"] == 50
    # Other units' admins cannot set it; nobody but a system admin sets a rule for everyone
    other = make_admin(of=make_org())
    assert client.post("/api/v1/learning/targets", json=rule, headers=bearer(other)).status_code == 403
    everywhere = rule | {"org_id": None}
    assert client.post("/api/v1/learning/targets", json=everywhere, headers=bearer(admin)).status_code == 403
    bad = client.post("/api/v1/learning/targets", json=rule | {"required_hours": 500}, headers=bearer(admin))
    assert bad.status_code == 422 and "required_hours" in bad.get_json()["fields"]
    from lms.audit.models import AuditEntry

    assert db.session.query(AuditEntry).filter_by(action="target.save").count() == 1


def test_admins_see_suspicious_learners_and_their_evidence_in_their_subtree_only(client, clock, course):
    from tests.factories import login

    cheat = make_user(org=course_org(course))
    honest = make_user(org=course_org(course))
    lesson = active_lessons(course.id)[0]
    session = _start(client, bearer(cheat), lesson.id)["session_id"]
    for seq in range(1, 31):  # the same heartbeat replayed: 29 rejections
        clock.now += 0.1
        _beat(client, bearer(cheat), session, 1 if seq > 1 else seq, [[0, 60]])
    _watch(client, bearer(honest), clock, _start(client, bearer(honest), lesson.id)["session_id"])
    admin = make_admin(of=course_org(course))
    queue = client.get("/api/v1/admin/learners/suspicious?days=3650", headers=bearer(admin)).get_json()[
        "items"
    ]
    assert [item["user"]["id"] for item in queue] == [cheat.id]
    assert "many_rejected" in queue[0]["flags"] and queue[0]["rejected"] == 29
    other_admin = make_admin(of=make_org())
    assert (
        client.get("/api/v1/admin/learners/suspicious?days=3650", headers=bearer(other_admin)).get_json()[
            "items"
        ]
        == []
    )
    assert (
        client.get(f"/api/v1/admin/users/{cheat.id}/learning", headers=bearer(other_admin)).status_code == 404
    )
    learning = client.get(f"/api/v1/admin/users/{cheat.id}/learning", headers=bearer(admin)).get_json()
    (played,) = learning["sessions"]
    beats = client.get(f"/api/v1/admin/playback/{played['id']}/heartbeats", headers=bearer(admin)).get_json()
    assert (
        len(beats["heartbeats"]) == 30
        and sum(1 for b in beats["heartbeats"] if b["reason"] == "replayed") == 29
    )
    # The same on the web pages
    login(client, admin)
    review = client.get("/learn/admin/review?days=3650").get_data(as_text=True)
    assert cheat.display_name in review and honest.display_name not in review
    page = client.get(f"/learn/admin/users/{cheat.id}").get_data(as_text=True)
    assert cheat.display_name in page
    assert client.get(f"/learn/admin/sessions/{played['id']}").status_code == 200


def _on_postgresql() -> None:
    from tests.service_guard import need_service

    need_service(
        "PostgreSQL",
        available=db.engine.dialect.name == "postgresql",
        why="the heartbeat route runs on PostgreSQL only (LMS_TEST_DATABASE_URL)",
    )


class _Statements:
    """SQL statements sent through psycopg cursors (SQLAlchemy's or the heartbeat route's)."""

    def __init__(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        import psycopg

        self.sent: list[str] = []
        execute = psycopg.Cursor.execute

        def counting(cursor, query, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.sent.append(str(query))
            return execute(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)


def test_a_plain_heartbeat_is_two_statements_and_answers_as_the_flask_view_does(
    client, clock, course, monkeypatch
):
    """The phone app's heartbeat goes through the hot route (read, then one guarded write); the same
    heartbeats through the Flask view (route switched off) give the same answers, evidence and progress."""
    from lms.api.heartbeat_route import HeartbeatRoute
    from lms.learning.models import LessonProgress

    _on_postgresql()
    lesson = active_lessons(course.id)[0]
    routed, viewed = make_user(org=course_org(course)), make_user(org=course_org(course))
    headers = {routed.id: bearer(routed), viewed.id: bearer(viewed)}
    sessions = {u.id: _start(client, headers[u.id], lesson.id)["session_id"] for u in (routed, viewed)}
    answers: dict[int, list[dict]] = {routed.id: [], viewed.id: []}
    statements = _Statements(monkeypatch)
    answer = HeartbeatRoute._answer
    for seq, (ranges, extra) in enumerate(
        [([[0, 15]], {}), ([[15, 30]], {"rate": 2.0}), ([[0, 60]], {}), ([[30, 40]], {"visible": False})],
        start=1,
    ):
        clock.now += 15
        for user in (routed, viewed):
            monkeypatch.setattr(HeartbeatRoute, "_answer", answer if user is routed else lambda *_: None)
            statements.sent.clear()
            response = _beat(client, headers[user.id], sessions[user.id], seq, ranges, **extra)
            assert response.status_code == 200, response.get_json()
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            answers[user.id].append(response.get_json())
            if user is routed:
                assert len(statements.sent) == 2, statements.sent  # no ORM, no BEGIN/COMMIT of ours
                assert statements.sent[1].startswith("WITH guard AS")
    assert answers[routed.id] == answers[viewed.id]
    assert [a["accepted_s"] for a in answers[routed.id]] == [15, 15, 17, 0]  # (2 s tolerance; hidden)

    def evidence(user):  # type: ignore[no-untyped-def]
        rows = db.session.scalars(
            select(HeartbeatRecord).where(HeartbeatRecord.user_id == user.id).order_by(HeartbeatRecord.seq)
        )
        return [
            (r.seq, r.accepted, r.reason, r.notes, r.claimed, r.credited, r.credited_s, r.received_at)
            for r in rows
        ]

    def progress(user):  # type: ignore[no-untyped-def]
        row = db.session.scalars(select(LessonProgress).where(LessonProgress.user_id == user.id)).one()
        return row.covered, row.covered_s, row.percent, row.position_s, row.completed_at

    assert evidence(routed) == evidence(viewed) and len(evidence(routed)) == 4
    assert progress(routed) == progress(viewed)
    assert progress(routed)[:3] == ([[0.0, 47.0]], 47.0, 78)


@pytest.mark.parametrize("overtaking", [[[0, 20]], []], ids=["crediting", "crediting-nothing"])
def test_a_heartbeat_overtaken_between_its_read_and_its_write_is_judged_again(
    client, clock, course, monkeypatch, overtaking
):
    """Heartbeat 1 reads the session, then heartbeat 2 of the same session is recorded before 1 writes
    (whether 2 credits time, changing the progress, or nothing, changing only the session): 1's guarded
    write changes nothing, the locking path judges it afresh (a replay now), and each heartbeat leaves
    exactly one evidence row; nothing is credited twice."""
    from lms.learning import playback
    from lms.learning.models import LessonProgress

    _on_postgresql()
    learner = make_user(org=course_org(course))
    headers = bearer(learner)
    session = _start(client, headers, active_lessons(course.id)[0].id)["session_id"]
    judge, overtaken = playback._judge, []

    def judge_then_be_overtaken(row, hb, settings, now):  # type: ignore[no-untyped-def]
        judged = judge(row, hb, settings, now)
        if hb.seq == 1 and not overtaken:
            overtaken.append(_beat(client, headers, session, 2, overtaking).get_json())
        return judged

    monkeypatch.setattr(playback, "_judge", judge_then_be_overtaken)
    clock.now += 20
    first = _beat(client, headers, session, 1, [[0, 15]])
    credited = 20.0 if overtaking else 0.0
    assert overtaken[0]["accepted"] is True and overtaken[0]["accepted_s"] == credited
    assert first.status_code == 200
    assert first.get_json()["accepted"] is False and first.get_json()["rejected"] == "replayed"
    rows = db.session.scalars(select(HeartbeatRecord).where(HeartbeatRecord.user_id == learner.id)).all()
    assert sorted((r.seq, r.accepted, r.credited_s) for r in rows) == [(1, False, 0.0), (2, True, credited)]
    covered = db.session.scalars(
        select(LessonProgress.covered_s).where(LessonProgress.user_id == learner.id)
    ).one()
    assert covered == credited
