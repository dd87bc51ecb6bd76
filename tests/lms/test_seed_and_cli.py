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
