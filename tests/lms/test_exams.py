"""Online tests through the HTTP API: banks, a timed exam, autosave, one device, the deadline, marking."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.core.db import db, utcnow
from lms.exams.models import Attempt
from lms.learning.models import LedgerEntry
from tests.factories import bearer, make_admin, make_org, make_teacher, make_user

QUESTIONS = [
    {
        "content": {
            "type": "single",
            "stem": "中国共产党的最高理想和最终目标是？",
            "options": [{"key": "A", "text": "实现共产主义"}, {"key": "B", "text": "全面小康"}],
            "correct": ["A"],
            "explanation": "党章总纲。",
        },
        "category": "党章",
    },
    {
        "content": {
            "type": "multiple",
            "stem": "“四个意识”包括？",
            "options": [
                {"key": "A", "text": "政治意识"},
                {"key": "B", "text": "大局意识"},
                {"key": "C", "text": "市场意识"},
            ],
            "correct": ["A", "B"],
            "partial": "miss_half",
            "explanation": "",
        },
        "category": "党章",
    },
    {
        "content": {"type": "true_false", "stem": "党员有权参加党的有关会议。", "correct": True},
        "category": "党章",
    },
    {
        "content": {"type": "fill_blank", "stem": "坚持＿＿的思想路线。", "blanks": [["实事求是"]]},
        "category": "党章",
    },
]
SECRETS = ('实现共产主义", "correct', '"correct"', "实事求是", '"explanation"', '"blanks"', "党章总纲")


@pytest.fixture
def setup(client):  # type: ignore[no-untyped-def]
    org = make_org(name="党校")
    teacher = make_teacher(org=org)
    headers = bearer(teacher)
    bank = client.post("/api/v1/question-banks", json={"name": "党章题库"}, headers=headers).get_json()[
        "bank"
    ]
    ids = []
    for question in QUESTIONS:
        made = client.post(f"/api/v1/question-banks/{bank['id']}/questions", json=question, headers=headers)
        assert made.status_code == 201, made.get_json()
        ids.append(made.get_json()["question"]["id"])
    exam = client.post(
        "/api/v1/exams",
        json={
            "title": "党章知识测试",
            "bank_ids": [bank["id"]],
            "structure": [{"kind": "fixed", "question_id": i, "marks": 25} for i in ids],
            "time_limit_minutes": 10,
            "max_attempts": 2,
            "pass_percent": 60,
            "review": "explanations",
            "credit_hours": "0.5",
        },
        headers=headers,
    )
    assert exam.status_code == 201, exam.get_json()
    exam_id = exam.get_json()["exam"]["id"]
    assert client.post(f"/api/v1/exams/{exam_id}/publish", headers=headers).status_code == 200
    return {"org": org, "teacher": teacher, "headers": headers, "exam_id": exam_id, "bank": bank, "ids": ids}


def _answers(items):  # type: ignore[no-untyped-def]
    by_type = {
        "single": {"choice": "A"},
        "multiple": {"choices": ["A"]},  # half marks (miss_half)
        "true_false": {"value": True},
        "fill_blank": {"blanks": ["实事求是 "]},  # a trailing full-width space still matches
    }
    return {item["position"]: by_type[item["question"]["type"]] for item in items}


def test_a_timed_exam_autosaves_resumes_on_the_same_device_and_grades_on_the_server(client, setup):
    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    opened = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert opened.status_code == 201
    body = opened.get_json()
    text = json.dumps(body, ensure_ascii=False)
    assert not any(secret in text for secret in SECRETS), "the answer key reached the browser"
    assert 590 <= body["seconds_left"] <= 600
    token = {"X-Attempt-Token": body["device_token"]}
    answers = _answers(body["items"])
    for position, answer in list(answers.items())[:2]:
        saved = client.put(
            f"/api/v1/attempts/{body['id']}/answers/{position}",
            json={"answer": answer},
            headers=headers | token,
        )
        assert saved.status_code == 200, saved.get_json()
    # The phone drops and comes back: the same device resumes the same attempt with its answers
    again = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers | token)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    saved_answers = {i["position"]: i["answer"] for i in again.get_json()["items"] if i["answer"]}
    assert len(saved_answers) == 2
    # A second device cannot open it while the first is active
    other = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert other.status_code == 409 and other.get_json()["error"] == "attempt_on_other_device"
    assert "另一台设备" in other.get_json()["message"]
    for position, answer in list(answers.items())[2:]:
        client.put(
            f"/api/v1/attempts/{body['id']}/answers/{position}",
            json={"answer": answer},
            headers=headers | token,
        )
    done = client.post(f"/api/v1/attempts/{body['id']}/submit", headers=headers | token).get_json()
    assert done["status"] == "graded" and done["score"] == 87.5 and done["passed"] is True
    assert any(item["question"].get("explanation") == "党章总纲。" for item in done["items"])  # review now
    entry = db.session.query(LedgerEntry).filter_by(user_id=cadre.id).one()
    assert (float(entry.hours), entry.reference, entry.source_kind) == (
        0.5,
        f"exam:{setup['exam_id']}",
        "test",
    )


def test_the_server_submits_at_the_deadline_and_refuses_late_answers(client, setup):
    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers).get_json()
    token = {"X-Attempt-Token": body["device_token"]}
    first = next(item for item in body["items"] if item["question"]["type"] == "single")
    answer = _answers(body["items"])[first["position"]]
    client.put(
        f"/api/v1/attempts/{body['id']}/answers/{first['position']}",
        json={"answer": answer},
        headers=headers | token,
    )
    attempt = db.session.get(Attempt, body["id"])
    attempt.deadline_at = utcnow() - timedelta(seconds=30)  # the time ran out while the phone was away
    db.session.commit()
    multiple = next(item for item in body["items"] if item["question"]["type"] == "multiple")
    late = client.put(
        f"/api/v1/attempts/{body['id']}/answers/{multiple['position']}",
        json={"answer": {"choices": ["A", "B"]}},
        headers=headers | token,
    )
    assert late.status_code == 409 and late.get_json()["error"] == "time_is_up"
    result = client.get(f"/api/v1/attempts/{body['id']}", headers=headers).get_json()
    assert result["status"] == "graded" and result["auto_submitted"] is True
    assert result["score"] == 25.0  # only the answer saved in time counts
    # One retake (补考) is allowed, then no more
    retake = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert retake.status_code == 201 and retake.get_json()["number"] == 2
    client.post(
        f"/api/v1/attempts/{retake.get_json()['id']}/submit",
        headers=headers | {"X-Attempt-Token": retake.get_json()["device_token"]},
    )
    third = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert third.status_code == 409 and third.get_json()["error"] == "no_attempts_left"


def _save(client, attempt_id, position, answer, headers):  # type: ignore[no-untyped-def]
    return client.put(
        f"/api/v1/attempts/{attempt_id}/answers/{position}", json={"answer": answer}, headers=headers
    )


def test_autosave_refuses_what_it_must_and_counts_every_save(client, setup):
    from lms.exams.models import AttemptAnswer

    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers).get_json()
    mine = headers | {"X-Attempt-Token": body["device_token"]}
    by_type = {item["question"]["type"]: item["position"] for item in body["items"]}
    single, multiple = by_type["single"], by_type["multiple"]
    # saved and saved again: one row, two saves, the last answer (keys cleaned: full-width, lower case)
    assert _save(client, body["id"], single, {"choice": "B"}, mine).status_code == 200
    again = _save(client, body["id"], single, {"choice": "ａ"}, mine)
    assert again.status_code == 200 and again.get_json()["position"] == single
    row = db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"], position=single).one()
    assert (row.answer, row.saves) == ({"choice": "A"}, 2)
    # a position that is not on the paper, another cadre's attempt, no device token, a wrong one
    assert _save(client, body["id"], 99, {"choice": "A"}, mine).status_code == 404
    outsider = bearer(make_user(org=setup["org"])) | {"X-Attempt-Token": body["device_token"]}
    assert _save(client, body["id"], single, {"choice": "A"}, outsider).status_code == 404
    for token in ("", "not-the-token"):
        refused = _save(client, body["id"], single, {"choice": "B"}, headers | {"X-Attempt-Token": token})
        assert refused.status_code == 409 and refused.get_json()["error"] == "attempt_on_other_device"
    # an answer shaped for another type of question is judged by the question's own type (cleared)
    assert _save(client, body["id"], multiple, {"choice": "A"}, mine).status_code == 200
    row = db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"], position=multiple).one()
    assert row.answer == {"choices": []}
    # an unusable answer (no such option, too long a text…) is refused whole: the saved one stays
    for bad in ({"choice": "Z"}, {"choice": ["A"]}, "A"):
        refused = _save(client, body["id"], single, bad, mine)
        assert refused.status_code == 422 and "answer" in refused.get_json()["fields"], bad
    db.session.expire_all()
    row = db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"], position=single).one()
    assert (row.answer, row.saves) == ({"choice": "A"}, 2)
    done = client.post(f"/api/v1/attempts/{body['id']}/submit", headers=mine).get_json()
    assert done["status"] == "graded"
    # the answers of a submitted attempt never change
    late = _save(client, body["id"], single, {"choice": "B"}, mine)
    assert late.status_code == 409 and late.get_json()["error"] == "attempt_finished"
    db.session.expire_all()
    row = db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"], position=single).one()
    assert (row.answer, row.saves) == ({"choice": "A"}, 2)


def test_autosave_checks_the_bearer_token_and_the_page_session_like_every_api_call(client, setup):
    from lms.accounts.models import ApiToken
    from lms.exams.models import AttemptAnswer
    from tests.factories import csrf_token, login

    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers).get_json()
    device = {"X-Attempt-Token": body["device_token"]}
    single = next(i["position"] for i in body["items"] if i["question"]["type"] == "single")
    for garbled in ("", "Bearer", "Bearer nonsense", "Basic abc", "Bearer " + "x" * 300):
        refused = _save(client, body["id"], single, {"choice": "A"}, device | {"Authorization": garbled})
        assert refused.status_code == 401, garbled
    malformed = client.put(
        f"/api/v1/attempts/{body['id']}/answers/{single}",
        data="not json",
        headers=device | {"Authorization": "Bearer x", "Content-Type": "application/json"},
    )
    assert malformed.status_code == 401  # a bad token is refused before a bad body is judged
    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == cadre.id)).one()
    for broken, mend in (
        (lambda: setattr(token, "revoked_at", utcnow()), lambda: setattr(token, "revoked_at", None)),
        (
            lambda: setattr(token, "expires_at", utcnow() - timedelta(seconds=1)),
            lambda: setattr(token, "expires_at", utcnow() + timedelta(hours=1)),
        ),
        (lambda: setattr(cadre, "is_active", False), lambda: setattr(cadre, "is_active", True)),
        (lambda: setattr(cadre, "session_version", 9), lambda: setattr(cadre, "session_version", 1)),
    ):
        broken()
        db.session.commit()
        assert _save(client, body["id"], single, {"choice": "A"}, headers | device).status_code == 401
        mend()
        db.session.commit()
    cadre.must_change_password = True
    db.session.commit()
    first = _save(client, body["id"], single, {"choice": "A"}, headers | device)
    assert first.status_code == 403 and first.get_json()["error"] == "password_change_required"
    cadre.must_change_password = False
    db.session.commit()
    assert not db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"]).count()  # nothing saved
    assert _save(client, body["id"], single, {"choice": "A"}, headers | device).status_code == 200
    # The test page saves with its session cookie and the page's CSRF token
    login(client, cadre)
    page_token = csrf_token(client, f"/exams/{setup['exam_id']}")
    assert _save(client, body["id"], single, {"choice": "B"}, device).status_code == 400  # no CSRF token
    saved = _save(client, body["id"], single, {"choice": "B"}, device | {"X-CSRFToken": page_token})
    assert saved.status_code == 200
    row = db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"], position=single).one()
    db.session.refresh(row)
    assert (row.answer, row.saves) == ({"choice": "B"}, 2)


def test_a_device_that_keeps_saving_keeps_the_attempt_and_a_silent_one_loses_it(client, setup):
    from lms.exams.models import AttemptAnswer

    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers).get_json()
    phone = headers | {"X-Attempt-Token": body["device_token"]}
    attempt = db.session.get(Attempt, body["id"])
    attempt.device_seen_at = utcnow() - timedelta(minutes=5)  # opened long ago …
    db.session.commit()
    assert _save(client, body["id"], 0, _answers(body["items"])[0], phone).status_code == 200  # … saving now
    other = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert other.status_code == 409 and other.get_json()["error"] == "attempt_on_other_device"
    # the phone goes quiet for longer than the grace: a second device takes the attempt over
    db.session.query(AttemptAnswer).filter_by(attempt_id=body["id"]).update(
        {"saved_at": utcnow() - timedelta(minutes=2)}
    )
    db.session.commit()
    pc = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers)
    assert pc.status_code == 200 and pc.get_json()["id"] == body["id"]
    assert pc.get_json()["items"][0]["answer"] is not None  # with the phone's answers
    refused = _save(client, body["id"], 0, _answers(body["items"])[0], phone)
    assert refused.status_code == 409 and refused.get_json()["error"] == "attempt_on_other_device"
    taken = headers | {"X-Attempt-Token": pc.get_json()["device_token"]}
    assert _save(client, body["id"], 0, _answers(body["items"])[0], taken).status_code == 200


def test_the_overdue_sweep_submits_abandoned_attempts(client, setup, app):
    from lms.exams.attempts import sweep_overdue

    cadre = make_user(org=setup["org"])
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=bearer(cadre)).get_json()
    attempt = db.session.get(Attempt, body["id"])
    attempt.deadline_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert sweep_overdue(utcnow()) == 1
    db.session.refresh(attempt)
    assert attempt.status == "graded" and attempt.auto_submitted and attempt.score == 0


def test_short_answers_wait_for_a_teacher_and_results_export(client, setup):
    headers = setup["headers"]
    essay = client.post(
        f"/api/v1/question-banks/{setup['bank']['id']}/questions",
        json={
            "content": {
                "type": "short_answer",
                "stem": "谈谈你对全面从严治党的理解。",
                "reference_answer": "要点……",
            }
        },
        headers=headers,
    ).get_json()["question"]["id"]
    exam = client.post(
        "/api/v1/exams",
        json={
            "title": "论述",
            "bank_ids": [setup["bank"]["id"]],
            "structure": [{"kind": "fixed", "question_id": essay, "marks": 10}],
        },
        headers=headers,
    ).get_json()["exam"]
    client.post(f"/api/v1/exams/{exam['id']}/publish", headers=headers)
    cadre = make_user(org=setup["org"])
    cadre_headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{exam['id']}/attempts", headers=cadre_headers).get_json()
    token = {"X-Attempt-Token": body["device_token"]}
    client.put(
        f"/api/v1/attempts/{body['id']}/answers/0",
        json={"answer": {"text": "从严管党治党。"}},
        headers=cadre_headers | token,
    )
    submitted = client.post(f"/api/v1/attempts/{body['id']}/submit", headers=cadre_headers | token).get_json()
    assert (
        submitted["status"] == "submitted"
        and submitted["awaiting_marking"] is True
        and submitted["score"] is None
    )
    outsider = bearer(make_admin(of=make_org()))
    assert client.get("/api/v1/marking", headers=outsider).get_json()["items"] == []
    queue = client.get("/api/v1/marking", headers=headers).get_json()["items"]
    assert [item["answer"] for item in queue] == [{"text": "从严管党治党。"}]
    assert (
        client.post(
            f"/api/v1/marking/{queue[0]['answer_id']}", json={"score": 11}, headers=headers
        ).status_code
        == 422
    )
    marked = client.post(
        f"/api/v1/marking/{queue[0]['answer_id']}", json={"score": 8, "feedback": "较好"}, headers=headers
    )
    assert marked.status_code == 200
    result = client.get(f"/api/v1/attempts/{body['id']}", headers=cadre_headers).get_json()
    assert result["status"] == "graded" and result["score"] == 8.0 and result["passed"] is True
    results = client.get(f"/api/v1/exams/{exam['id']}/results", headers=headers).get_json()
    assert [a["score"] for a in results["attempts"]] == [8.0]
    export = client.get(f"/api/v1/exams/{exam['id']}/results.xlsx", headers=headers)
    assert export.status_code == 200 and export.data.startswith(b"PK")
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(export.data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == cadre.display_name and rows[1][4] == 8.0 and rows[1][6] == "通过"


def test_editing_a_question_never_changes_an_attempt_already_taken(client, setup):
    cadre = make_user(org=setup["org"])
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=headers).get_json()
    stems = sorted(item["question"]["stem"] for item in body["items"])
    question = dict(QUESTIONS[0]) | {"content": QUESTIONS[0]["content"] | {"stem": "改写后的题干"}}
    edited = client.put(
        f"/api/v1/question-banks/{setup['bank']['id']}/questions/{setup['ids'][0]}",
        json=question,
        headers=setup["headers"],
    )
    assert edited.status_code == 200
    again = client.get(f"/api/v1/attempts/{body['id']}", headers=headers).get_json()
    assert sorted(item["question"]["stem"] for item in again["items"]) == stems


def test_tests_are_only_for_cadres_of_the_owning_units(client, setup):
    outsider = make_user(org=make_org())
    assert (
        client.post(f"/api/v1/exams/{setup['exam_id']}/attempts", headers=bearer(outsider)).status_code == 404
    )


def test_teachers_import_banks_on_the_web_and_bad_files_are_rejected_whole(client, setup):
    from tests.factories import csrf_token, login

    login(client, setup["teacher"])
    token = csrf_token(client, "/exams/manage")
    bank_id = setup["bank"]["id"]
    bad = "// 党章测试\n::q1:: 党的最高理想是什么？ {=共产主义 ~小康}\n\n::q2:: 缺少右括号 {=对\n".encode()
    response = client.post(
        f"/exams/manage/banks/{bank_id}/import",
        data={"csrf_token": token, "file": (io.BytesIO(bad), "bank.gift")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "文件未导入" in page and "<td>4</td>" in page
    before = client.get(f"/api/v1/question-banks/{bank_id}/questions", headers=setup["headers"]).get_json()
    good = "::q1:: 党的最高理想是什么？ {=共产主义 ~小康}\n".encode()
    for _ in range(2):  # the same file twice does not duplicate
        done = client.post(
            f"/exams/manage/banks/{bank_id}/import",
            data={"csrf_token": token, "file": (io.BytesIO(good), "bank.gift")},
            content_type="multipart/form-data",
        )
        assert done.status_code == 302
    after = client.get(f"/api/v1/question-banks/{bank_id}/questions", headers=setup["headers"]).get_json()
    assert "items" in after, after
    assert len(after["items"]) == len(before["items"]) + 1


def test_the_cli_imports_a_bank_and_reports_bad_lines(app, setup, tmp_path):
    path = tmp_path / "bank.gift"
    path.write_text("$CATEGORY: 党章\n::t1:: 党员必须履行义务 {T}\n", encoding="utf-8")
    login_name = setup["teacher"].login_name
    result = app.test_cli_runner().invoke(
        args=["exams", "import", str(path), "--bank", "CLI题库", "--as", login_name]
    )
    assert result.exit_code == 0, result.output
    assert "新增 1 题" in result.output
    path.write_text("::t2:: 坏题 {=a\n", encoding="utf-8")
    failed = app.test_cli_runner().invoke(
        args=["exams", "import", str(path), "--bank", "CLI题库", "--as", login_name]
    )
    assert failed.exit_code == 1 and "第 1 行" in failed.output


def test_a_required_course_test_gates_the_courses_hours(client, setup):
    from lms.catalog import services as catalog
    from lms.catalog.queries import active_lessons
    from lms.catalog.validation import clean_course_data
    from lms.core.db import utcnow as now
    from lms.learning.credits import maybe_complete_course
    from lms.learning.models import LessonProgress
    from lms.media.models import AssetKind, AssetStatus, MediaAsset

    org, teacher = setup["org"], setup["teacher"]
    asset = MediaAsset(
        owner_id=teacher.id, org_id=org.id, kind=AssetKind.VIDEO, title="一", status=AssetStatus.READY,
        source_key="u/1", duration_s=60.0, playlist_key="m/1/t/master.m3u8", output_prefix="m/1/t/",
    )  # fmt: skip
    db.session.add(asset)
    db.session.flush()
    data = clean_course_data(
        {"title": "带测验的课程", "hours": "2", "lessons": [{"title": "一", "media_asset_id": asset.id}]}
    )
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=make_admin(of=org), course=course)
    exam = client.post(
        "/api/v1/exams",
        json={
            "title": "课后测验",
            "course_id": course.id,
            "required_for_completion": True,
            "bank_ids": [setup["bank"]["id"]],
            "structure": [{"kind": "fixed", "question_id": setup["ids"][0], "marks": 10}],
        },
        headers=setup["headers"],
    ).get_json()["exam"]
    client.post(f"/api/v1/exams/{exam['id']}/publish", headers=setup["headers"])
    cadre = make_user(org=org)
    (lesson,) = active_lessons(course.id)
    db.session.add(
        LessonProgress(
            user_id=cadre.id, lesson_id=lesson.id, course_id=course.id, covered=[[0, 60]], covered_s=60,
            percent=100, completed_at=now(),
        )
    )  # fmt: skip
    db.session.commit()
    settings = client.application.extensions["lms.settings"]
    assert (
        maybe_complete_course(user=cadre, course=course, now=now(), settings=settings) is False
    )  # not yet passed
    headers = bearer(cadre)
    body = client.post(f"/api/v1/exams/{exam['id']}/attempts", headers=headers).get_json()
    token = {"X-Attempt-Token": body["device_token"]}
    client.put(
        f"/api/v1/attempts/{body['id']}/answers/0", json={"answer": {"choice": "A"}}, headers=headers | token
    )
    assert (
        client.post(f"/api/v1/attempts/{body['id']}/submit", headers=headers | token).get_json()["passed"]
        is True
    )
    refs = [e.reference for e in db.session.query(LedgerEntry).filter_by(user_id=cadre.id)]
    assert refs == [f"course:{course.id}"]  # the pass completed the course (the quiz itself credits no hours)
