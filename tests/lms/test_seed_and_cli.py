from __future__ import annotations

import json

from sqlalchemy import func, select

from lms.accounts.models import Organization, Role, RoleGrant, User
from lms.core.db import db


def test_seed_demo_builds_a_province_and_is_idempotent(app, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["lms", "seed-demo", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["created_users"] >= 200 and report["password"] == "demo2026"
    roles = {login["role"] for login in report["logins"]}
    assert {"系统管理员", "省级管理员", "市级管理员", "县级管理员", "教师", "学员"} <= roles
    counts = (
        db.session.scalar(select(func.count(User.id))),
        db.session.scalar(select(func.count(Organization.id))),
        db.session.scalar(select(func.count(RoleGrant.id))),
    )
    second = runner.invoke(args=["lms", "seed-demo"])
    assert second.exit_code == 0 and "已是最新，未改动" in second.output
    assert counts == (
        db.session.scalar(select(func.count(User.id))),
        db.session.scalar(select(func.count(Organization.id))),
        db.session.scalar(select(func.count(RoleGrant.id))),
    )
    ranks = set(db.session.scalars(select(User.rank).where(User.login_name.like("gb%"))))
    assert len(ranks) >= 4  # mixed ranks


def test_demo_county_admin_sees_only_their_county(app, client, db_session):
    app.test_cli_runner().invoke(args=["lms", "seed-demo"])
    token = client.post("/api/v1/auth/token", json={"username": "sf0101_admin", "password": "demo2026"})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    users = client.get("/api/v1/users?per_page=100", headers=headers).get_json()
    orgs = {u["org"]["name"] for u in users["items"]}
    assert orgs and orgs <= {"东城区委组织部", "东城区教育局", "和平街道"}


def test_create_admin_command(app, db_session):
    app.test_cli_runner().invoke(args=["lms", "seed-demo"])
    result = app.test_cli_runner().invoke(args=["lms", "create-admin", "ops1", "--org-code", "sf-zzb"])
    assert result.exit_code == 0 and "初始密码" in result.output
    user = db.session.scalar(select(User).where(User.login_name == "ops1"))
    grants = db.session.scalars(select(RoleGrant.role).where(RoleGrant.user_id == user.id)).all()
    assert grants == [Role.SYSTEM_ADMIN] and user.must_change_password
    missing = app.test_cli_runner().invoke(args=["lms", "create-admin", "ops2", "--org-code", "NOPE"])
    assert missing.exit_code == 1
    taken = app.test_cli_runner().invoke(args=["lms", "create-admin", "OPS1", "--org-code", "SF-ZZB"])
    assert taken.exit_code == 1 and "该登录名已被使用" in taken.output and "Traceback" not in taken.output
    bad = app.test_cli_runner().invoke(args=["lms", "create-admin", "坏名字", "--org-code", "SF-ZZB"])
    assert bad.exit_code == 1 and "登录名须为 2-64 位" in bad.output


def test_a_new_installation_is_bootstrapped_from_the_command_line(app, db_session):
    runner = app.test_cli_runner()
    root = runner.invoke(args=["lms", "create-org", "某某省", "--code", "mm"])
    assert root.exit_code == 0 and "已创建单位 某某省" in root.output
    child = runner.invoke(
        args=[
            "lms",
            "create-org",
            "某某省委组织部",
            "--code",
            "MM-ZZB",
            "--kind",
            "unit",
            "--parent-code",
            "MM",
        ]
    )
    assert child.exit_code == 0
    again = runner.invoke(args=["lms", "create-org", "某某省", "--code", "MM"])
    assert again.exit_code == 1 and "该单位编码已被使用" in again.output
    admin = runner.invoke(args=["lms", "create-admin", "root-admin", "--org-code", "MM-ZZB"])
    assert admin.exit_code == 0 and "初始密码" in admin.output


def test_demo_courses_are_seeded_once_reviewed_and_searchable_after_sync(app, client, db_session):
    from collections import Counter

    from lms.accounts.models import Organization as Org
    from lms.catalog.models import Course, CourseKind, CourseRevision, CourseStatus

    runner = app.test_cli_runner()
    first = runner.invoke(args=["lms", "seed-demo", "--json"])
    assert first.exit_code == 0, first.output
    demo = select(Course).where(Course.code.like("DEMO-%"))
    courses = db.session.scalars(demo).all()
    assert json.loads(first.output)["created_courses"] == len(courses) and 250 <= len(courses) <= 350
    statuses = Counter(c.status for c in courses)
    assert statuses[CourseStatus.PUBLISHED] >= 200
    assert statuses[CourseStatus.IN_REVIEW] >= 5 and statuses[CourseStatus.DRAFT] >= 5
    kinds = Counter(c.current.kind for c in courses)
    assert 0.25 <= kinds[CourseKind.MICRO] / len(courses) <= 0.45 and kinds[CourseKind.AUDIO] >= 5
    for course in courses:
        revision = course.current
        assert 2 <= len(revision.lessons) <= 6 and revision.category_id is not None
        assert revision.teacher_ids or revision.lecturers
        minutes = revision.duration_s / 60
        assert 5 <= minutes <= 15 if revision.kind == CourseKind.MICRO else 20 <= minutes <= 90
    titles = {c.current.title for c in courses}
    assert len(titles) == len(courses)  # varied, no repeats

    second = runner.invoke(args=["lms", "seed-demo", "--json"])
    assert json.loads(second.output)["created_courses"] == 0
    assert db.session.scalar(select(func.count()).select_from(demo.subquery())) == len(courses)

    synced = runner.invoke(args=["search", "sync"])
    assert synced.exit_code == 0 and "待同步 0 项" in synced.output
    token = client.post("/api/v1/auth/token", json={"username": "gb0001", "password": "demo2026"})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    found = client.get("/api/v1/courses?q=党性教育", headers=headers).get_json()
    assert found["degraded"] is False and found["total"] >= 5
    assert any("党性" in hit["title"] for hit in found["hits"])

    # City-only courses are seen in that city only; the province admin has a review queue.
    cadre = db.session.scalar(select(User).where(User.login_name == "gb0001"))
    city_course = next(
        c
        for c in courses
        if c.status == CourseStatus.PUBLISHED
        and len(c.published_revision.visibility_paths[0].strip("/").split("/")) == 2
        and not cadre.org.path.startswith(c.published_revision.visibility_paths[0])
    )
    assert client.get(f"/api/v1/courses/{city_course.id}", headers=headers).status_code == 404
    city = db.session.get(Org, city_course.org_id)
    assert city is not None and city.code in ("SF01", "SF02", "SF03")
    submitted = db.session.scalar(
        select(func.count(Course.id))
        .join(CourseRevision, CourseRevision.id == Course.working_revision_id)
        .where(Course.code.like("DEMO-%"), CourseRevision.status == "submitted")
    )
    assert submitted == statuses[CourseStatus.IN_REVIEW]
