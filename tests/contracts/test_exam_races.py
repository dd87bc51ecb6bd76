"""Online tests under real parallel requests against a live server on PostgreSQL (a throwaway database):
one attempt when starts race, one grading and one learning-hours credit when submissions (and a save)
race, a submission grades every save that got a 200 and no save after it gets one, and no start at all
once the only attempt is used. Never a 500."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from lms.app import create_app
from lms.core.db import db, utcnow
from tests.conftest import make_settings
from tests.live import call_json, race, scratch_postgres, serve

QUESTIONS = [
    {
        "type": "single",
        "stem": "党的最高理想是？",
        "options": [{"key": "A", "text": "共产主义"}, {"key": "B", "text": "小康"}],
        "correct": ["A"],
    },
    {
        "type": "multiple",
        "stem": "“四个意识”包括？",
        "options": [
            {"key": "A", "text": "政治意识"},
            {"key": "B", "text": "大局意识"},
            {"key": "C", "text": "市场"},
        ],
        "correct": ["A", "B"],
    },
    {"type": "true_false", "stem": "党员有权参加党的有关会议。", "correct": True},
    {"type": "fill_blank", "stem": "坚持＿＿的思想路线。", "blanks": [["实事求是"]]},
]
RIGHT = {
    "single": {"choice": "A"},
    "multiple": {"choices": ["A", "B"]},
    "true_false": {"value": True},
    "fill_blank": {"blanks": ["实事求是"]},
}
CADRES = ("starter", "submitter1", "submitter2", "submitter3", "saver1", "saver2")


@dataclass
class Live:
    base: str
    engine: Engine  # on the race database, for checking what was written
    teacher: dict[str, str]
    cadres: dict[str, dict[str, str]]
    bank_id: int
    question_ids: list[int]
    app: Flask  # the live server's app, for holding a transaction open in the test


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from flask_migrate import upgrade

    from tests.factories import bearer, make_org, make_teacher, make_user

    with scratch_postgres("lms_exam_race") as race_url:
        app = create_app(make_settings(tmp_path_factory.mktemp("exam_race"), LMS_DATABASE_URL=race_url))
        engine = create_engine(race_url)
        try:
            with app.app_context():
                upgrade()
                org = make_org(name="并发考试单位")
                teacher = bearer(make_teacher(org=org))
                cadres = {who: bearer(make_user(org=org)) for who in CADRES}
                db.session.commit()
                db.session.remove()
            with serve(app) as base:
                status, bank = call_json(
                    "POST", f"{base}/api/v1/question-banks", teacher, {"name": "并发题库"}
                )
                assert status == 201, bank
                ids = []
                for content in QUESTIONS:
                    status, made = call_json(
                        "POST",
                        f"{base}/api/v1/question-banks/{bank['bank']['id']}/questions",
                        teacher,
                        {"content": content},
                    )
                    assert status == 201, made
                    ids.append(made["question"]["id"])
                yield Live(base, engine, teacher, cadres, bank["bank"]["id"], ids, app)
        finally:
            engine.dispose()
            with app.app_context():
                db.engine.dispose()


def _exam(live: Live, **options: Any) -> int:
    body = {
        "title": f"并发测试{uuid.uuid4().hex[:6]}",
        "bank_ids": [live.bank_id],
        "structure": [{"kind": "fixed", "question_id": i, "marks": 25} for i in live.question_ids],
        "time_limit_minutes": 30,
        "max_attempts": 1,
        "pass_percent": 60,
    } | options
    status, exam = call_json("POST", f"{live.base}/api/v1/exams", live.teacher, body)
    assert status == 201, exam
    exam_id = int(exam["exam"]["id"])
    assert call_json("POST", f"{live.base}/api/v1/exams/{exam_id}/publish", live.teacher)[0] == 200
    return exam_id


def _attempts(live: Live, exam_id: int) -> list[tuple[int, int, str]]:
    with live.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text("SELECT user_id, number, status FROM exam_attempts WHERE exam_id = :e ORDER BY id"),
                {"e": exam_id},
            )
        ]


def test_parallel_starts_of_a_one_attempt_test_make_exactly_one_attempt(live):
    exam_id = _exam(live)
    who = live.cadres["starter"]
    results = race(10, lambda _: call_json("POST", f"{live.base}/api/v1/exams/{exam_id}/attempts", who))
    statuses = Counter(status for status, _ in results)
    assert statuses[201] == 1 and statuses[500] == 0, results
    for status, body in results:
        if status == 201:
            assert body["device_token"] and body["status"] == "in_progress"
        else:
            # the same device cannot resume in parallel: the others are another device or out of attempts
            assert status == 409, (status, body)
            assert body["error"] in ("attempt_on_other_device", "no_attempts_left"), body
    assert [(number, status) for _, number, status in _attempts(live, exam_id)] == [(1, "in_progress")]


def _start_and_answer(live: Live, exam_id: int, who: dict[str, str]) -> tuple[int, dict[str, str]]:
    status, body = call_json("POST", f"{live.base}/api/v1/exams/{exam_id}/attempts", who)
    assert status == 201, body
    token = {"X-Attempt-Token": body["device_token"]}
    for item in body["items"][:-1]:  # all but the last: the racing save brings it
        status, saved = call_json(
            "PUT",
            f"{live.base}/api/v1/attempts/{body['id']}/answers/{item['position']}",
            who | token,
            {"answer": RIGHT[item["question"]["type"]]},
        )
        assert status == 200, saved
    return body, token


def _race_submissions(live: Live, exam_id: int, who: dict[str, str]) -> None:
    """Six submissions and three saves of the missing answer, all at once."""
    body, token = _start_and_answer(live, exam_id, who)
    last = body["items"][-1]
    submit_url = f"{live.base}/api/v1/attempts/{body['id']}/submit"
    save_url = f"{live.base}/api/v1/attempts/{body['id']}/answers/{last['position']}"

    def call(n: int) -> tuple[str, int, dict[str, Any]]:
        if n % 3 == 2:
            return (
                "save",
                *call_json("PUT", save_url, who | token, {"answer": RIGHT[last["question"]["type"]]}),
            )
        return ("submit", *call_json("POST", submit_url, who | token))

    results = race(9, call)
    assert all(status != 500 for _, status, _ in results), results
    for kind, status, reply in results:
        if kind == "submit":
            assert status == 200 and reply["status"] == "graded", reply
        else:
            assert status == 200 or (status == 409 and reply["error"] == "attempt_finished"), reply
    scores = {reply["score"] for kind, _, reply in results if kind == "submit"}
    saved_in_time = any(kind == "save" and status == 200 for kind, status, _ in results)
    # every submission saw the one grading, which has the racing answer if and only if a save won
    assert scores == {100.0 if saved_in_time else 75.0}, results


def test_racing_submissions_and_a_save_grade_once_and_credit_hours_once(live):
    exam_id = _exam(live, credit_hours="1.5")
    for name in ("submitter1", "submitter2", "submitter3"):
        _race_submissions(live, exam_id, live.cadres[name])
    with live.engine.connect() as conn:
        graded = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT user_id) FROM exam_attempts"
                " WHERE exam_id = :e AND status = 'graded'"
            ),
            {"e": exam_id},
        ).one()
        credits = conn.execute(
            text("SELECT user_id, hours FROM ledger_entries WHERE reference = :r ORDER BY user_id"),
            {"r": f"exam:{exam_id}"},
        ).all()
    assert tuple(graded) == (3, 3)
    assert len(credits) == 3 and len({user for user, _ in credits}) == 3, credits  # one credit per cadre
    assert {float(hours) for _, hours in credits} == {1.5}


def test_after_the_only_attempt_is_graded_parallel_starts_are_all_refused(live):
    exam_id = _exam(live)
    who = live.cadres["submitter1"]
    body, token = _start_and_answer(live, exam_id, who)
    status, done = call_json("POST", f"{live.base}/api/v1/attempts/{body['id']}/submit", who | token)
    assert status == 200 and done["status"] == "graded", done
    results = race(
        10, lambda n: call_json("POST", f"{live.base}/api/v1/exams/{exam_id}/attempts", who | token)
    )
    assert [(s, b.get("error")) for s, b in results] == [(409, "no_attempts_left")] * 10, results
    assert len(_attempts(live, exam_id)) == 1


# A save and a submission interleaved by hand: one side holds its transaction open in the test while the
# other goes through the live server. Each interleaving fails if autosave does not hold the attempt's row
# for the length of its transaction (a save that is an update of an answer row takes no foreign key lock).

HOLD_S = 0.6  # long enough for the other side to reach the lock


def _one_answer_saved_wrong(live: Live, who: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """An attempt of a one-attempt test with every answer right except the single choice, saved wrong."""
    headers = live.cadres[who]
    status, body = call_json("POST", f"{live.base}/api/v1/exams/{_exam(live)}/attempts", headers)
    assert status == 201, body
    token = {"X-Attempt-Token": body["device_token"]}
    for item in body["items"]:
        answer = {"choice": "B"} if item["question"]["type"] == "single" else RIGHT[item["question"]["type"]]
        status, saved = call_json(
            "PUT",
            f"{live.base}/api/v1/attempts/{body['id']}/answers/{item['position']}",
            headers | token,
            {"answer": answer},
        )
        assert status == 200, saved
    single = next(item for item in body["items"] if item["question"]["type"] == "single")
    return body, headers | token, single


def _answer_row(live: Live, attempt_id: int, position: int) -> tuple[Any, int]:
    with live.engine.connect() as conn:
        answer, saves = conn.execute(
            text("SELECT answer, saves FROM exam_answers WHERE attempt_id = :a AND position = :p"),
            {"a": attempt_id, "p": position},
        ).one()
    return answer, saves


def test_a_submission_waits_for_a_save_in_flight_and_grades_it(live):
    from lms.exams.attempts import quick_save

    body, headers, single = _one_answer_saved_wrong(live, "saver1")
    with live.app.app_context(), ThreadPoolExecutor(1) as pool:
        user_id = db.session.scalar(
            text("SELECT user_id FROM exam_attempts WHERE id = :a"), {"a": body["id"]}
        )
        saved_at = quick_save(
            actor_id=user_id,
            attempt_id=body["id"],
            position=single["position"],
            answer={"choice": "A"},  # the right one, not committed yet
            device_token=headers["X-Attempt-Token"],
            now=utcnow(),
        )
        assert saved_at is not None  # the save got its 200
        submitting = pool.submit(
            call_json, "POST", f"{live.base}/api/v1/attempts/{body['id']}/submit", headers
        )
        time.sleep(HOLD_S)
        assert not submitting.done(), submitting.result()  # the submission waits for the save …
        db.session.commit()
        db.session.remove()
        status, done = submitting.result(timeout=30)
    assert status == 200 and done["status"] == "graded", done
    assert done["score"] == 100.0, done  # … and grades the saved answer, not the one before it
    assert _answer_row(live, body["id"], single["position"]) == ({"choice": "A"}, 2)


def test_a_save_that_waited_for_a_submission_is_refused_and_changes_nothing(live):
    from lms.exams.attempts import submit
    from lms.exams.models import Attempt, Exam

    body, headers, single = _one_answer_saved_wrong(live, "saver2")
    with live.app.app_context(), ThreadPoolExecutor(1) as pool:
        attempt = db.session.scalar(select(Attempt).where(Attempt.id == body["id"]).with_for_update())
        submit(attempt=attempt, exam=db.session.get(Exam, attempt.exam_id), actor=None, now=utcnow())
        saving = pool.submit(
            call_json,
            "PUT",
            f"{live.base}/api/v1/attempts/{body['id']}/answers/{single['position']}",
            headers,
            {"answer": {"choice": "A"}},
        )
        time.sleep(HOLD_S)
        assert not saving.done(), saving.result()  # the save waits for the submission …
        db.session.commit()
        db.session.remove()
        status, refused = saving.result(timeout=30)
    assert status == 409 and refused["error"] == "attempt_finished", refused  # … then is refused
    # the submitted answers are untouched: the wrong choice, saved once, graded 0 of 25
    assert _answer_row(live, body["id"], single["position"]) == ({"choice": "B"}, 1)
    status, result = call_json("GET", f"{live.base}/api/v1/attempts/{body['id']}", headers)
    assert status == 200 and result["score"] == 75.0, result
