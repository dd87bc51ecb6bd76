"""A teacher writes a test on a 360×640 phone (the demo province): the form fits the screen with
thumb-sized targets, a mistake is shown next to its field, and the test is saved and published."""

from __future__ import annotations

import re

from tests.live import call_json

NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= document.documentElement.clientWidth"
# Like tests/e2e/test_phone_layout.py, except that a radio button, like a checkbox, is tapped through its
# label (44 px tall), not by itself.
SMALL_TARGETS = """() => [...document.querySelectorAll('button, .button, .nav a, input, select, summary')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44
               && !['checkbox', 'radio', 'hidden'].includes(e.type))
  .map(e => e.outerHTML.slice(0, 80))"""


LONG_STEM = "关于新时代党的建设总要求的表述中，一个相当长的题干，用来检查它在窄屏上是否折行而不撑宽页面？"


def _fits(page) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{page.url} scrolls sideways at 360 px"
    assert page.evaluate(SMALL_TARGETS) == [], f"{page.url} has tap targets under 44 px"


def test_a_teacher_writes_a_test_on_a_phone(phone, live_url):
    status, token = call_json(
        "POST", f"{live_url}/api/v1/auth/token", {}, {"username": "teacher02", "password": "demo2026"}
    )
    assert status == 201, token
    auth = {"Authorization": f"Bearer {token['token']}"}
    status, bank = call_json("POST", f"{live_url}/api/v1/question-banks", auth, {"name": "手机组卷题库"})
    assert status == 201, bank
    for n in range(3):
        status, made = call_json(
            "POST",
            f"{live_url}/api/v1/question-banks/{bank['bank']['id']}/questions",
            auth,
            {
                "content": {
                    "type": "single",
                    "stem": f"第{n + 1}题：{LONG_STEM}",
                    "options": [{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}],
                    "correct": ["A"],
                },
                "category": "党的建设",
            },
        )
        assert status == 201, made

    phone.goto(f"{live_url}/login")
    phone.fill("input[name=username]", "teacher02")
    phone.fill("input[name=password]", "demo2026")
    phone.click("button[type=submit]")
    phone.goto(f"{live_url}/exams/manage")
    phone.click("a:has-text('新建测试')")
    assert phone.url.endswith("/exams/manage/tests/new")
    phone.click("summary:has-text('手机组卷题库')")  # the bank's questions open
    _fits(phone)

    phone.fill("input[name=title]", "手机上组的卷")
    phone.check("input[name=bank_ids]")
    phone.check("input[name=questions] >> nth=0")
    phone.fill("input[name=draw-category-0]", "党的建设")
    phone.fill("input[name=draw-count-0]", "5")  # more than the bank holds: saved, not publishable
    phone.fill("input[name=time_limit_minutes]", "一小时")
    phone.click("form button.primary[type=submit]")
    assert "限时为 1 至 600 分钟" in phone.inner_text("#error-time_limit_minutes")
    _fits(phone)

    phone.fill("input[name=time_limit_minutes]", "20")
    phone.fill("input[name=draw-count-0]", "2")
    phone.click("form button.primary[type=submit]")
    assert re.search(r"/exams/manage/tests/\d+$", phone.url)
    assert "测试已保存" in phone.inner_text("main")
    _fits(phone)
    phone.click("button:has-text('发布')")
    assert "测试已发布" in phone.inner_text("main")
    _fits(phone)
