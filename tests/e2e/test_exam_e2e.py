"""A cadre takes a timed test on a 360×640 phone against a live server (its own app and SQLite file):
answers autosave, one goes up after the connection drops and returns, a reload resumes the same attempt
on the same device with its answers, a second device is turned away, the server submits at the deadline,
a late answer is refused, only in-time answers are graded, and no response carries the answer key before
the attempt is submitted. No CSP violation, nothing wider than the phone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from lms.app import create_app
from lms.core.db import db, utcnow
from tests.conftest import make_settings
from tests.live import call_json, serve

NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= document.documentElement.clientWidth"
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '')));
"""
PHONE = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}

QUESTIONS = [
    {
        "type": "single",
        "stem": "中国共产党的最高理想和最终目标是？",
        "options": [{"key": "A", "text": "实现共产主义"}, {"key": "B", "text": "全面建成小康社会"}],
        "correct": ["A"],
        "explanation": "解析甲：党章总纲。",
    },
    {
        "type": "multiple",
        "stem": "“四个意识”包括？",
        "options": [
            {"key": "A", "text": "政治意识"},
            {"key": "B", "text": "大局意识"},
            {"key": "C", "text": "市场意识"},
        ],
        "correct": ["A", "B"],
        "explanation": "解析乙：四个意识。",
    },
    {
        "type": "true_false",
        "stem": "党员有权参加党的有关会议。",
        "correct": True,
        "explanation": "解析丙：党员权利。",
    },
    {
        "type": "fill_blank",
        "stem": "坚持＿＿的思想路线。",
        "blanks": [["实事求是"]],
        "explanation": "解析丁：思想路线。",
    },
]
# Whatever would give the key away: key names of the full content, the explanations, the accepted blank
KEY_MARKERS = ('"correct"', '"explanation"', '"reference_answer"', '"partial"', "解析", "实事求是")


@dataclass
class Live:
    app: Flask
    base: str
    exam_id: int
    cadre_login: str
    cadre_auth: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from flask_migrate import upgrade

    from tests.factories import bearer, make_org, make_teacher, make_user

    instance = tmp_path_factory.mktemp("exam_e2e")
    app = create_app(make_settings(instance, LMS_DATABASE_URL=f"sqlite:///{instance / 'exam.sqlite'}"))
    with app.app_context():
        upgrade()
        org = make_org(name="党校")
        teacher_auth = bearer(make_teacher(org=org))
        cadre = make_user(org=org, login_name="exam-cadre", name="考试学员")
        cadre_login, cadre_auth = cadre.login_name, bearer(cadre)
        db.session.commit()
        db.session.remove()
    try:
        with serve(app) as base:
            status, bank = call_json(
                "POST", f"{base}/api/v1/question-banks", teacher_auth, {"name": "党章题库"}
            )
            assert status == 201, bank
            ids = []
            for content in QUESTIONS:
                status, made = call_json(
                    "POST",
                    f"{base}/api/v1/question-banks/{bank['bank']['id']}/questions",
                    teacher_auth,
                    {"content": content, "category": "党章"},
                )
                assert status == 201, made
                ids.append(made["question"]["id"])
            status, exam = call_json(
                "POST",
                f"{base}/api/v1/exams",
                teacher_auth,
                {
                    "title": "党章知识限时测试",
                    "bank_ids": [bank["bank"]["id"]],
                    "structure": [{"kind": "fixed", "question_id": i, "marks": 25} for i in ids],
                    "time_limit_minutes": 10,
                    "max_attempts": 1,
                    "pass_percent": 60,
                    "review": "explanations",
                    "shuffle_questions": True,
                    "shuffle_options": True,
                },
            )
            assert status == 201, exam
            exam_id = exam["exam"]["id"]
            assert call_json("POST", f"{base}/api/v1/exams/{exam_id}/publish", teacher_auth)[0] == 200
            yield Live(app=app, base=base, exam_id=exam_id, cadre_login=cadre_login, cadre_auth=cadre_auth)
    finally:
        with app.app_context():
            db.engine.dispose()


def _sign_in(page: Any, live: Live) -> None:
    from tests.factories import PASSWORD

    page.goto(f"{live.base}/login")
    page.fill("input[name=username]", live.cadre_login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.inner_text("main")


def _set_deadline(live: Live, attempt_id: int, seconds: float) -> Any:
    from lms.exams.models import Attempt

    with live.app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        assert attempt is not None
        attempt.deadline_at = utcnow() + timedelta(seconds=seconds)
        deadline = attempt.deadline_at
        db.session.commit()
        db.session.remove()
    return deadline


def _is_attempt_put(response: Any, attempt_id: int, position: int) -> bool:
    return response.request.method == "PUT" and response.url.endswith(
        f"/api/v1/attempts/{attempt_id}/answers/{position}"
    )


def test_a_cadre_takes_a_timed_test_on_a_phone_through_a_dropped_connection(browser, live):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.add_init_script(WATCH_CSP)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    bodies: list[tuple[str, str, int, str]] = []  # (method, url, status, body) of every /api/ response

    def record(response: Any) -> None:
        if "/api/" in response.url:
            try:
                text = response.text()
            except Exception as error:  # a body the browser no longer holds
                text = f"<unavailable: {error}>"
            bodies.append((response.request.method, response.url, response.status, text))

    page.on("response", record)
    try:
        _sign_in(page, live)
        page.goto(f"{live.base}/exams/{live.exam_id}")
        with page.expect_response(lambda r: r.url.endswith(f"/exams/{live.exam_id}/attempts")) as opened:
            page.click("[data-action=start]")
        assert opened.value.status == 201
        attempt = opened.value.json()
        attempt_id, token = attempt["id"], attempt["device_token"]
        assert page.evaluate(f"localStorage.getItem('lms-exam-token-{live.exam_id}')") == token
        page.wait_for_selector("fieldset.exam-question")
        assert 590 <= attempt["seconds_left"] <= 600

        def box(qtype: str) -> Any:
            stem = next(q["stem"] for q in QUESTIONS if q["type"] == qtype)
            return page.locator("fieldset.exam-question", has_text=stem)

        positions = {item["question"]["type"]: item["position"] for item in attempt["items"]}

        # Two answers autosave at once
        with page.expect_response(lambda r: _is_attempt_put(r, attempt_id, positions["single"])) as put:
            box("single").locator("label", has_text="实现共产主义").click()
        assert put.value.status == 200
        with page.expect_response(lambda r: _is_attempt_put(r, attempt_id, positions["true_false"])) as put:
            box("true_false").locator("label", has_text="对（正确）").click()
        assert put.value.status == 200
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the paper scrolls sideways at 360 px"

        # The connection drops: the third answer waits on the phone, then goes up when it returns
        context.set_offline(True)
        box("fill_blank").locator("input.exam-blank").fill("实事求是")
        page.wait_for_function(
            "() => document.querySelector('[data-role=save]').textContent.indexOf('网络中断') === 0",
            timeout=10000,
        )
        backlog = page.evaluate(f"localStorage.getItem('lms-exam-pending-{attempt_id}')")
        assert "实事求是" in backlog
        with page.expect_response(
            lambda r: _is_attempt_put(r, attempt_id, positions["fill_blank"]), timeout=15000
        ) as put:
            context.set_offline(False)
        assert put.value.status == 200
        page.wait_for_function(
            "() => document.querySelector('[data-role=save]').textContent === '已自动保存'"
        )

        # A reload resumes the same attempt on the same device, with the three answers
        page.reload()
        with page.expect_response(lambda r: r.url.endswith(f"/exams/{live.exam_id}/attempts")) as opened:
            page.click("[data-action=start]")
        assert opened.value.status == 200
        resumed = opened.value.json()
        assert (resumed["id"], resumed["device_token"]) == (attempt_id, token)
        page.wait_for_selector("fieldset.exam-question")
        assert box("single").locator("label", has_text="实现共产主义").locator("input").is_checked()
        assert box("true_false").locator("label", has_text="对（正确）").locator("input").is_checked()
        assert box("fill_blank").locator("input.exam-blank").input_value() == "实事求是"
        assert not any(i.is_checked() for i in box("multiple").locator("input").all())
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the resumed paper scrolls sideways at 360 px"

        # Another phone of the same cadre is turned away while this one is active
        other = browser.new_context(**PHONE)
        try:
            second = other.new_page()
            _sign_in(second, live)
            second.goto(f"{live.base}/exams/{live.exam_id}")
            second.click("[data-action=start]")
            second.wait_for_selector("[data-role=error]:not([hidden])")
            assert "另一台设备" in second.inner_text("[data-role=error]")
            assert second.is_hidden("fieldset.exam-question") or second.locator("fieldset").count() == 0
        finally:
            other.close()

        # The deadline comes (shortened in the database): hold the page's question to the server
        # until a late answer has been refused, so the refusal is the server's "time is up"
        held: list[Any] = []

        def hold(route: Any) -> None:
            if route.request.method == "GET":
                held.append(route)
            else:
                route.continue_()

        page.route(re.compile(rf"/api/v1/attempts/{attempt_id}$"), hold)
        deadline = _set_deadline(live, attempt_id, 8)
        page.reload()
        with page.expect_response(lambda r: r.url.endswith(f"/exams/{live.exam_id}/attempts")) as opened:
            page.click("[data-action=start]")
        assert opened.value.status == 200 and opened.value.json()["seconds_left"] <= 8
        page.wait_for_selector("fieldset.exam-question")
        for _ in range(400):
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the page did not ask the server at zero"
        time.sleep(max(0.0, (deadline - utcnow()).total_seconds()) + 5.5)  # past the network grace

        before_submission = list(bodies)
        late = call_json(
            "PUT",
            f"{live.base}/api/v1/attempts/{attempt_id}/answers/{positions['multiple']}",
            live.cadre_auth | {"X-Attempt-Token": token},
            {"answer": {"choices": ["A", "B"]}},
        )
        assert late[0] == 409 and late[1]["error"] == "time_is_up", late
        held[0].continue_()
        page.wait_for_selector("[data-role=result]:not([hidden])")
        result = page.inner_text("[data-role=result]")
        assert "时间到" in result and "得分 75 / 100" in result, result
        assert page.is_hidden("[data-role=paper]")
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the result scrolls sideways at 360 px"

        # Only the in-time answers were graded; the late one was not stored
        status, final = call_json("GET", f"{live.base}/api/v1/attempts/{attempt_id}", live.cadre_auth)
        assert status == 200 and final["status"] == "graded" and final["auto_submitted"] is True, final
        answers = {item["question"]["type"]: (item["answer"], item["score"]) for item in final["items"]}
        assert answers == {
            "single": ({"choice": "A"}, 25.0),
            "true_false": ({"value": True}, 25.0),
            "fill_blank": ({"blanks": ["实事求是"]}, 25.0),
            "multiple": (None, 0.0),
        }, answers
        assert (final["score"], final["passed"]) == (75.0, True)
        assert call_json(
            "PUT",
            f"{live.base}/api/v1/attempts/{attempt_id}/answers/{positions['multiple']}",
            live.cadre_auth | {"X-Attempt-Token": token},
            {"answer": {"choices": ["A", "B"]}},
        )[1]["error"] in ("attempt_finished", "time_is_up")
        assert "解析" in json.dumps(final, ensure_ascii=False)  # review shows the key now: the check bites

        # Nothing the browser received before the submission carried the answer key
        attempt_bodies = [b for b in before_submission if "/attempts" in b[1]]
        assert len(attempt_bodies) >= 6, before_submission
        for method, url, status, text in before_submission:
            assert not text.startswith("<unavailable"), (method, url, text)
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            if isinstance(data, dict):
                for item in data.get("items") or []:
                    item.pop("answer", None)  # the cadre's own answers may echo back
            shown = json.dumps(data, ensure_ascii=False)
            leaked = [marker for marker in KEY_MARKERS if marker in shown]
            assert not leaked, f"{method} {url} ({status}) gave away {leaked}: {shown[:300]}"

        csp = page.evaluate("window.__csp")
        logged = [m for m in console if "Content Security Policy" in m or "Content-Security-Policy" in m]
        assert csp == [] and logged == [], (csp, logged)
    finally:
        context.close()
