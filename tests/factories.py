"""Plain typed factories: add and flush, never commit."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from werkzeug.security import generate_password_hash

from lms.accounts import services
from lms.accounts.models import CadreCategory, Organization, OrgKind, Rank, Role, RoleGrant, User
from lms.core.db import db

PASSWORD = "Passw0rd-test"
_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
_seq = itertools.count(1)


def make_org(
    *,
    parent: Organization | None = None,
    name: str | None = None,
    kind: OrgKind = OrgKind.UNIT,
    code: str | None = None,
) -> Organization:
    n = next(_seq)
    return services.create_org(actor=None, parent=parent, name=name or f"单位{n}", kind=kind, code=code)


def make_user(
    *,
    org: Organization,
    login_name: str | None = None,
    name: str | None = None,
    rank: Rank | None = Rank.BELOW_SECTION,
    category: CadreCategory | None = CadreCategory.CIVIL_SERVANT,
    must_change_password: bool = False,
    active: bool = True,
) -> User:
    n = next(_seq)
    user = User(
        login_name=login_name or f"user{n}",
        display_name=name or f"学员{n}",
        org_id=org.id,
        org=org,
        rank=rank,
        cadre_category=category,
        password_hash=_HASH,
        must_change_password=must_change_password,
        is_active=active,
    )
    db.session.add(user)
    db.session.flush()
    return user


def grant(user: User, role: Role, org: Organization | None = None) -> User:
    db.session.add(RoleGrant(user_id=user.id, role=role, org_id=org.id if org else None))
    db.session.flush()
    return user


def make_admin(*, of: Organization, login_name: str | None = None) -> User:
    return grant(make_user(org=of, login_name=login_name), Role.ORG_ADMIN, of)


def bearer(user: User) -> dict[str, str]:
    raw, _ = services.issue_token(user=user, ttl=timedelta(hours=1))
    return {"Authorization": f"Bearer {raw}"}


def login(client, user: User, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Sign in through the web form (CSRF is on: fetch the form first)."""
    page = client.get("/login")
    token = _csrf(page.get_data(as_text=True))
    return client.post(
        "/login", data={"username": user.login_name, "password": password, "csrf_token": token}
    )


def _csrf(html: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html)
    assert tag, "no CSRF token on the page"
    value = re.search(r'value="([^"]+)"', tag.group(0))
    assert value
    return value.group(1)


def csrf_token(client, path: str) -> str:  # type: ignore[no-untyped-def]
    return _csrf(client.get(path).get_data(as_text=True))


def province_tree() -> dict[str, Organization]:
    """province → two cities → two counties each → a unit in each county."""
    province = make_org(name="测试省", kind=OrgKind.PROVINCE, code="TP")
    orgs = {"province": province}
    for c in (1, 2):
        city = make_org(parent=province, name=f"测试{c}市", kind=OrgKind.CITY, code=f"TP{c}")
        orgs[f"city{c}"] = city
        for k in (1, 2):
            county = make_org(parent=city, name=f"测试{c}市{k}县", kind=OrgKind.COUNTY, code=f"TP{c}{k}")
            orgs[f"county{c}{k}"] = county
            orgs[f"unit{c}{k}"] = make_org(parent=county, name=f"{county.name}组织部", code=f"TP{c}{k}U")
    return orgs


def make_teacher(*, org: Organization, name: str | None = None) -> User:
    return grant(make_user(org=org, name=name), Role.TEACHER)


def make_course(
    *,
    teacher: User,
    org: Organization | None = None,
    title: str = "党性教育专题",
    publish_by: User | None = None,
    visibility: list[str] | None = None,
    **fields: object,
):  # type: ignore[no-untyped-def]
    """A course by ``teacher``; published when ``publish_by`` (an admin of its org) is given."""
    from lms.catalog import services as catalog
    from lms.catalog.validation import clean_course_data

    data = clean_course_data({"title": title, "lessons": [{"title": "第一讲", "duration_s": 1800}]} | fields)
    course = catalog.create_course(
        actor=teacher, org=org or teacher.org, data=data, visibility_paths=visibility
    )
    if publish_by is not None:
        catalog.submit_for_review(actor=teacher, course=course)
        catalog.approve(actor=publish_by, course=course)
    return course


def mark_studied(user: User, course, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """The user has watched ``seconds`` of the course's first lesson (as heartbeats would record)."""
    from lms.catalog.queries import active_lessons
    from lms.learning.models import LessonProgress

    lesson = active_lessons(course.id)[0]
    db.session.add(
        LessonProgress(
            user_id=user.id,
            lesson_id=lesson.id,
            course_id=course.id,
            covered=[[0.0, seconds]],
            covered_s=seconds,
            percent=1,
        )
    )
    db.session.flush()
