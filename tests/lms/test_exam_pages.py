"""Writing a test on the web (/exams/manage): the form creates and edits tests through the same service
as the API, refuses bad fields next to each field in Chinese without saving anything, offers only the
courses and banks the author may use, and needs the page's CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from lms.audit.models import AuditEntry
from lms.core.db import db
from lms.exams.models import Exam
from tests.factories import (
    bearer,
    csrf_token,
    login,
    make_admin,
    make_course,
    make_org,
    make_teacher,
    make_user,
)

QUESTIONS = [
    {
        "type": "single",
        "stem": "中国共产党的最高理想和最终目标是？",
        "options": [{"key": "A", "text": "实现共产主义"}, {"key": "B", "text": "全面小康"}],
        "correct": ["A"],
    },
    {"type": "true_false", "stem": "党员有权参加党的有关会议。", "correct": True},
    {"type": "fill_blank", "stem": "坚持＿＿的思想路线。", "blanks": [["实事求是"]]},
    {"type": "true_false", "stem": "党的纪律是全党必须遵守的行为规则。", "correct": True},
    {"type": "true_false", "stem": "民主集中制是党的根本组织原则。", "correct": True},
]


@pytest.fixture
def world(client):  # type: ignore[no-untyped-def]
    org = make_org(name="市委党校")
    teacher = make_teacher(org=org, name="王老师")
    headers = bearer(teacher)
    bank = client.post("/api/v1/question-banks", json={"name": "党章题库"}, headers=headers).get_json()[
        "bank"
    ]
    ids = []
    for n, content in enumerate(QUESTIONS):
        category = "党章" if n < 3 else "党纪/纪律处分"
        made = client.post(
            f"/api/v1/question-banks/{bank['id']}/questions",
            json={"content": content, "category": category, "difficulty": 2},
            headers=headers,
        )
        assert made.status_code == 201, made.get_json()
        ids.append(made.get_json()["question"]["id"])
    other_teacher = make_teacher(org=org, name="李老师")
    other_bank = client.post(
        "/api/v1/question-banks", json={"name": "李老师的题库"}, headers=bearer(other_teacher)
    ).get_json()["bank"]
    course = make_course(teacher=teacher, title="党章学习专题")
    foreign_course = make_course(teacher=other_teacher, title="别人的课程")
    db.session.commit()
    return {
        "org": org,
        "teacher": teacher,
        "other_teacher": other_teacher,
        "bank": bank,
        "other_bank": other_bank,
        "ids": ids,
        "course": course,
        "foreign_course": foreign_course,
    }


def _form(token: str, **fields: object) -> dict[str, object]:
    return {
        "csrf_token": token,
        "title": "党章知识月考",
        "kind": "standalone",
        "course_id": "",
        "pass_percent": "60",
        "time_limit_minutes": "30",
        "opens_at": "",
        "closes_at": "",
        "max_attempts": "2",
        "grading": "highest",
        "review": "answers",
        "credit_hours": "0",
        "shuffle_questions": "1",
        "shuffle_options": "1",
        "draws": "3",
    } | fields


def _exams() -> int:
    return db.session.scalar(select(func.count()).select_from(Exam)) or 0


def _field_error(html: str, name: str) -> str:
    """The error shown next to a field (the <small class="error" id="error-NAME"> after it)."""
    found = re.search(rf'<small class="error" id="error-{re.escape(name)}">([^<]*)</small>', html)
    return found.group(1) if found else ""


def test_a_teacher_composes_a_test_on_the_web_and_cadres_can_take_it(client, world):
    login(client, world["teacher"])
    page = client.get("/exams/manage/tests/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "党章题库" in html and "中国共产党的最高理想" in html  # banks and their questions to pick
    assert "党章学习专题" in html and "别人的课程" not in html  # only courses the teacher may edit
    assert "李老师的题库" not in html
    fixed = world["ids"][0]
    response = client.post(
        "/exams/manage/tests/new",
        data=_form(
            csrf_token(client, "/exams/manage/tests/new"),
            kind="course",
            course_id=str(world["course"].id),
            required_for_completion="1",
            bank_ids=[str(world["bank"]["id"])],
            questions=[str(fixed)],
            **{f"marks-{fixed}": "10"},
            **{"draw-category-0": "党纪", "draw-difficulty-0": "2", "draw-count-0": "2", "draw-marks-0": "5"},
            opens_at="2026-12-01T09:00",
            closes_at="2026-12-01T11:30",
            one_per_page="1",
            review="explanations",
            review_after_close="1",
            credit_hours="1.5",
        ),
    )
    assert response.status_code == 302, _field_error(response.get_data(as_text=True), "structure")
    exam = db.session.scalars(select(Exam).order_by(Exam.id.desc())).first()
    assert exam is not None and exam.title == "党章知识月考" and exam.status == "draft"
    assert response.headers["Location"].endswith(f"/exams/manage/tests/{exam.id}")
    assert exam.course_id == world["course"].id and exam.required_for_completion
    assert exam.bank_ids == [world["bank"]["id"]]
    assert exam.structure == [
        {"kind": "fixed", "marks": "10.00", "question_id": fixed},
        {"kind": "random", "marks": "5.00", "count": 2, "category": "党纪", "difficulty": 2},
    ]
    assert exam.opens_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
    assert exam.closes_at == datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    assert (exam.time_limit_minutes, exam.max_attempts, exam.grading, exam.pass_percent) == (
        30,
        2,
        "highest",
        60,
    )
    assert (exam.one_per_page, exam.shuffle_questions, exam.shuffle_options) == (True, True, True)
    assert (exam.review, exam.review_after_close, float(exam.credit_hours)) == ("explanations", True, 1.5)
    assert "测试已保存" in client.get(response.headers["Location"]).get_data(as_text=True)

    # Open it now and publish it from the page; a cadre of the course's org starts it through the API
    opens = client.post(
        f"/exams/manage/tests/{exam.id}",
        data=_form(
            csrf_token(client, f"/exams/manage/tests/{exam.id}"),
            bank_ids=[str(world["bank"]["id"])],
            questions=[str(fixed)],
            **{f"marks-{fixed}": "10"},
            **{"draw-category-0": "党纪", "draw-count-0": "2", "draw-marks-0": "5"},
        ),
    )
    assert opens.status_code == 302
    published = client.post(
        f"/exams/manage/tests/{exam.id}/publish", data={"csrf_token": csrf_token(client, "/exams/manage")}
    )
    assert published.status_code == 302
    assert "测试已发布" in client.get(published.headers["Location"]).get_data(as_text=True)
    body = client.post(f"/api/v1/exams/{exam.id}/attempts", headers=bearer(make_user(org=world["org"])))
    assert body.status_code == 201, body.get_json()
    assert body.get_json()["max_score"] == 20.0
    stems = {item["question"]["stem"] for item in body.get_json()["items"]}
    assert stems == {QUESTIONS[n]["stem"] for n in (0, 3, 4)}  # the fixed one and the two 党纪 ones
    actions = db.session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.target_type == "exam", AuditEntry.target_id == str(exam.id)
        )
    ).all()
    assert sorted(actions) == ["exam.create", "exam.publish", "exam.update"]


def test_the_form_shows_a_test_again_and_edits_it(client, world):
    login(client, world["teacher"])
    made = client.post(
        "/api/v1/exams",
        json={
            "title": "原来的名称",
            "bank_ids": [world["bank"]["id"]],
            "structure": [
                {"kind": "fixed", "question_id": world["ids"][2], "marks": 4},
                {"kind": "random", "category": "党纪", "count": 1, "marks": "2.5", "difficulty": None},
            ],
            "closes_at": "2026-12-31T23:59:00+08:00",
            "credit_hours": "0.5",
        },
        headers=bearer(world["teacher"]),
    )
    exam_id = made.get_json()["exam"]["id"]
    html = client.get(f"/exams/manage/tests/{exam_id}").get_data(as_text=True)
    assert 'value="原来的名称"' in html
    assert re.search(rf'name="questions" value="{world["ids"][2]}" checked', html)
    assert f'name="marks-{world["ids"][2]}" value="4"' in html
    assert 'name="draw-category-0" list="categories" maxlength="200" value="党纪"' in html
    assert 'name="draw-marks-0" value="2.5"' in html
    assert 'name="closes_at" value="2026-12-31T23:59"' in html  # China time again
    assert 'name="credit_hours" value="0.5"' in html
    changed = client.post(
        f"/exams/manage/tests/{exam_id}",
        data=_form(
            csrf_token(client, f"/exams/manage/tests/{exam_id}"),
            title="新的名称",
            bank_ids=[str(world["bank"]["id"])],
            questions=[str(world["ids"][2]), str(world["ids"][0])],
            **{f"marks-{world['ids'][2]}": "4", f"marks-{world['ids'][0]}": ""},
            grading="last",
            time_limit_minutes="",
        ),
    )
    assert changed.status_code == 302
    exam = db.session.get(Exam, exam_id)
    db.session.refresh(exam)
    assert exam.title == "新的名称" and exam.grading == "last" and exam.time_limit_minutes is None
    assert [slot.get("question_id") for slot in exam.structure] == [world["ids"][2], world["ids"][0]]
    assert exam.structure[1]["marks"] == "1.00"  # an empty mark is one mark
    assert exam.closes_at is None  # the field was emptied


def test_bad_fields_are_shown_next_to_them_in_chinese_and_nothing_is_saved(client, world):
    login(client, world["teacher"])
    before = _exams()
    response = client.post(
        "/exams/manage/tests/new",
        data=_form(
            csrf_token(client, "/exams/manage/tests/new"),
            title="  ",
            bank_ids=[str(world["bank"]["id"])],
            questions=[str(world["ids"][0])],
            **{f"marks-{world['ids'][0]}": "很多"},
            **{"draw-category-1": "党章", "draw-count-1": "两道"},
            opens_at="2026-12-02T09:00",
            closes_at="2026-12-01T09:00",
            max_attempts="0",
            pass_percent="",
            time_limit_minutes="半小时",
            credit_hours="-1",
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "测试未保存" in html
    assert _field_error(html, "title") == "请填写测试名称。"
    assert _field_error(html, "closes_at") == "结束时间必须晚于开始时间。"
    assert _field_error(html, "max_attempts") == "作答次数为 1 至 10 次。"
    assert _field_error(html, "pass_percent") == "及格线是 0 至 100 之间的百分比。"
    assert "600" in _field_error(html, "time_limit_minutes")
    assert "0" in _field_error(html, "credit_hours") and "50" in _field_error(html, "credit_hours")
    assert _field_error(html, f"question-{world['ids'][0]}")  # the fixed question's bad marks
    assert _field_error(html, "draw-0")  # the draw line with a count that is not a number
    # what was typed is still there
    assert (
        'name="draw-count-0" value="两道"' in html and f'name="marks-{world["ids"][0]}" value="很多"' in html
    )
    assert _exams() == before


def test_questions_must_come_from_the_chosen_banks_and_courses_from_the_authors_own(client, world):
    login(client, world["teacher"])
    before = _exams()
    question = world["ids"][1]
    response = client.post(
        "/exams/manage/tests/new",
        data=_form(
            csrf_token(client, "/exams/manage/tests/new"),
            kind="course",
            course_id=str(world["foreign_course"].id),
            bank_ids=[],  # the question's bank is not chosen
            questions=[str(question)],
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_error(html, f"question-{question}") == "该题不在所选题库中。"
    assert _field_error(html, "course_id") == "请选择您可以编辑的课程。"
    other_bank = client.post(
        "/exams/manage/tests/new",
        data=_form(
            csrf_token(client, "/exams/manage/tests/new"),
            kind="course",
            course_id="",
            bank_ids=[str(world["other_bank"]["id"])],
            **{"draw-count-0": "1"},
        ),
    )
    assert _field_error(other_bank.get_data(as_text=True), "bank_ids") == "请选择您可以使用的题库。"
    assert _field_error(other_bank.get_data(as_text=True), "course_id") == "不是有效的选项。"
    assert _exams() == before


def test_an_invalid_edit_leaves_the_test_as_it_was(client, world):
    login(client, world["teacher"])
    exam_id = client.post(
        "/api/v1/exams",
        json={
            "title": "不变的测试",
            "bank_ids": [world["bank"]["id"]],
            "structure": [{"kind": "fixed", "question_id": world["ids"][0], "marks": 5}],
        },
        headers=bearer(world["teacher"]),
    ).get_json()["exam"]["id"]
    response = client.post(
        f"/exams/manage/tests/{exam_id}",
        data=_form(
            csrf_token(client, f"/exams/manage/tests/{exam_id}"),
            title="改过的名称",
            bank_ids=[str(world["bank"]["id"])],
            **{"draw-count-0": "1", "draw-marks-0": "1000"},
        ),
    )
    assert response.status_code == 422
    exam = db.session.get(Exam, exam_id)
    db.session.refresh(exam)
    assert exam.title == "不变的测试" and len(exam.structure) == 1


def test_a_test_that_its_banks_cannot_fill_is_not_published(client, world):
    login(client, world["teacher"])
    response = client.post(
        "/exams/manage/tests/new",
        data=_form(
            csrf_token(client, "/exams/manage/tests/new"),
            bank_ids=[str(world["bank"]["id"])],
            **{"draw-category-0": "党纪", "draw-count-0": "5"},  # the bank has two
        ),
    )
    location = response.headers["Location"]
    exam_id = int(location.rsplit("/", 1)[1])
    refused = client.post(f"{location}/publish", data={"csrf_token": csrf_token(client, location)})
    assert refused.status_code == 302
    assert "题目数量不足" in client.get(location).get_data(as_text=True)
    assert db.session.get(Exam, exam_id).status == "draft"


def test_the_form_needs_its_csrf_token(client, world):
    login(client, world["teacher"])
    before = _exams()
    response = client.post("/exams/manage/tests/new", data=_form("", bank_ids=[str(world["bank"]["id"])]))
    assert response.status_code == 400
    assert _exams() == before


def test_who_may_write_and_edit_tests(client, world):
    exam_id = client.post(
        "/api/v1/exams",
        json={
            "title": "王老师的测试",
            "bank_ids": [world["bank"]["id"]],
            "structure": [{"kind": "fixed", "question_id": world["ids"][0]}],
        },
        headers=bearer(world["teacher"]),
    ).get_json()["exam"]["id"]
    cadre = _signed_in(client, make_user(org=world["org"]))
    assert cadre.get("/exams/manage/tests/new").status_code == 404
    other = _signed_in(client, world["other_teacher"])  # another teacher: not their test
    assert other.get(f"/exams/manage/tests/{exam_id}").status_code == 404
    assert other.get("/exams/manage/tests/new").status_code == 200
    admin = _signed_in(client, make_admin(of=world["org"]))  # an admin of the unit that owns it
    page = admin.get(f"/exams/manage/tests/{exam_id}")
    assert page.status_code == 200 and "王老师的测试" in page.get_data(as_text=True)
    outsider = _signed_in(client, make_admin(of=make_org(name="别的单位")))
    assert outsider.get(f"/exams/manage/tests/{exam_id}").status_code == 404


def test_an_admin_edits_a_teachers_test_without_losing_the_teachers_own_bank(client, world):
    question = world["ids"][0]
    exam_id = client.post(
        "/api/v1/exams",
        json={
            "title": "教师私有题库组的卷",
            "bank_ids": [world["bank"]["id"]],  # the teacher's own bank: not the admin's to use
            "structure": [{"kind": "fixed", "question_id": question, "marks": 3}],
        },
        headers=bearer(world["teacher"]),
    ).get_json()["exam"]["id"]
    admin = _signed_in(client, make_admin(of=world["org"]))
    html = admin.get(f"/exams/manage/tests/{exam_id}").get_data(as_text=True)
    assert f'name="bank_ids" value="{world["bank"]["id"]}" checked' in html
    assert f'name="questions" value="{question}" checked' in html
    saved = admin.post(
        f"/exams/manage/tests/{exam_id}",
        data=_form(
            csrf_token(admin, f"/exams/manage/tests/{exam_id}"),
            title="管理员改了名称",
            bank_ids=[str(world["bank"]["id"])],
            questions=[str(question)],
            **{f"marks-{question}": "3"},
        ),
    )
    assert saved.status_code == 302, _field_error(saved.get_data(as_text=True), "bank_ids")
    exam = db.session.get(Exam, exam_id)
    db.session.refresh(exam)
    assert exam.title == "管理员改了名称" and exam.bank_ids == [world["bank"]["id"]]
    assert exam.structure == [{"kind": "fixed", "marks": "3.00", "question_id": question}]


def _signed_in(client, user):  # type: ignore[no-untyped-def]
    other = client.application.test_client()
    login(other, user)
    return other


def test_the_manage_page_links_to_the_form(client, world):
    login(client, world["teacher"])
    html = client.get("/exams/manage").get_data(as_text=True)
    assert 'href="/exams/manage/tests/new"' in html
