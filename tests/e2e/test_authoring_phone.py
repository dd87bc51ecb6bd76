"""The authoring and review pages at 360×640 on the demo province: nothing scrolls sideways, tap targets
are at least 44 px, and the grouped navigation opens on a phone without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_phone_layout import check_page, sign_in


def test_a_teacher_writes_a_course_on_a_phone(phone, live_url):
    sign_in(phone, live_url, "teacher01")
    phone.goto(f"{live_url}/authoring/")
    assert "我的课程建设" in phone.inner_text("main")
    check_page(phone)

    phone.click("nav summary:has-text('课程建设')")  # the <details> menu opens in its own row
    assert phone.is_visible("nav a:has-text('我的课程建设')")
    check_page(phone)

    phone.goto(f"{live_url}/authoring/new")
    phone.fill("input[name=title]", "手机上新建的课程")
    phone.click("main button[type=submit]")
    assert re.search(r"/authoring/courses/\d+/edit$", phone.url)
    check_page(phone)
    # The JavaScript arrows and the order numbers stay within the screen too.
    assert phone.evaluate("document.querySelectorAll('[data-lessons]').length") == 1
    phone.fill("input[name=title]", "")
    phone.click(".sticky-actions button[type=submit]")
    assert "请填写课程标题" in phone.inner_text("main")
    check_page(phone)


def test_the_editor_of_a_published_demo_course_fits_a_phone(phone, live_url):
    sign_in(phone, live_url, "teacher01")
    phone.goto(f"{live_url}/authoring/?state=published")
    phone.locator("main ul.list a").first.click()
    assert "添加阅读材料" in phone.inner_text("main")
    check_page(phone)  # the course page with the reading-material form
    phone.click("main a:has-text('编辑')")
    assert phone.url.endswith("/edit") and "新修订" in phone.inner_text("main")
    rows = phone.locator("[data-lesson]")
    assert rows.count() >= 2
    first = rows.nth(0).locator("input[name$='-title']").input_value()
    rows.nth(0).locator("button.move[data-step='1']").click()  # the JavaScript arrow moves it down
    assert phone.locator("[data-lesson]").nth(1).locator("input[name$='-title']").input_value() == first
    assert phone.locator("[data-lesson]").nth(1).locator("[data-position]").input_value() == "2"
    check_page(phone)


ADMIN_PAGES = ["/authoring/review", "/authoring/categories", "/authoring/?state=published"]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_authoring_pages_fit_a_phone(phone, live_url, path):
    sign_in(phone, live_url, "sf_admin")
    phone.goto(f"{live_url}{path}")
    assert phone.title()
    check_page(phone)


def test_the_review_page_of_a_demo_course_fits_a_phone(phone, live_url):
    sign_in(phone, live_url, "sf_admin")
    phone.goto(f"{live_url}/authoring/review")
    links = phone.locator("main ul.list a")
    if links.count() == 0:
        pytest.skip("the demo left nothing waiting for review")
    links.first.click()
    assert "/authoring/review/" in phone.url
    check_page(phone)
