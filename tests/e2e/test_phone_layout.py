"""At 360×640 a cadre and an admin can use every page with a thumb: nothing scrolls sideways, every
button and link in the page chrome is at least 44 px tall, and the Chinese UI signs in."""

from __future__ import annotations

import pytest

NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= document.documentElement.clientWidth"
SMALL_TARGETS = """() => [...document.querySelectorAll('button, .button, .nav a, .tabs a, input, select')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44 && e.type !== 'checkbox'
               && e.type !== 'hidden')
  .map(e => e.outerHTML.slice(0, 80))"""


def sign_in(page, base: str, login: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", login)
    page.fill("input[name=password]", "demo2026")
    page.click("button[type=submit]")


def check_page(page) -> None:  # type: ignore[no-untyped-def]
    # A click that navigates returns once the new page is committed, not once its stylesheets are
    # applied: measured before that, every link is the browser's default 20-odd px tall.
    page.wait_for_load_state("load")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{page.url} scrolls sideways at 360 px"
    assert page.evaluate(SMALL_TARGETS) == [], f"{page.url} has tap targets under 44 px"


def test_a_cadre_signs_in_and_sees_their_year(phone, live_url):
    phone.goto(f"{live_url}/login")
    check_page(phone)
    phone.fill("input[name=username]", "gb0003")
    phone.fill("input[name=password]", "wrong-pass-1")
    phone.click("button[type=submit]")
    assert "登录名或密码错误" in phone.inner_text("main")
    sign_in(phone, live_url, "gb0003")
    text = phone.inner_text("main")
    assert "年度学习" in text and "年度目标" in text
    check_page(phone)


@pytest.mark.parametrize(
    "path",
    [
        "/courses",
        "/courses?q=党性",
        "/admin/users",
        "/admin/orgs",
        "/admin/users/import",
        "/admin/audit",
        "/admin/users/new",
        "/account/password",
    ],
)
def test_admin_pages_fit_a_phone(phone, live_url, path):
    sign_in(phone, live_url, "sf01_admin")
    phone.goto(f"{live_url}{path}")
    assert phone.title()
    check_page(phone)


def test_a_county_admin_sees_only_their_county_in_the_browser(phone, live_url):
    sign_in(phone, live_url, "sf0101_admin")
    phone.goto(f"{live_url}/admin/users?per_page=100")
    listing = phone.inner_text("main")
    assert "东城区" in listing and "清河县" not in listing and "西江市" not in listing
