from __future__ import annotations

from sqlalchemy import func, select

from lms.accounts.models import User
from lms.audit.models import AuditEntry
from lms.core.db import db
from tests.factories import bearer, csrf_token, login, make_admin, make_org, make_user


def test_admin_issues_an_account_who_must_change_the_password(client, db_session):
    org = make_org()
    admin = make_admin(of=org)
    response = client.post(
        "/api/v1/users",
        headers=bearer(admin),
        json={
            "org_id": org.id,
            "login_name": " GB2026-0001 ",
            "name": "陈静",
            "rank": "乡科级",
            "cadre_category": "基层干部",
            "phone": "13900001111",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["login_name"] == "gb2026-0001" and body["user"]["rank"] == "section"
    token = client.post(
        "/api/v1/auth/token", json={"username": "gb2026-0001", "password": body["initial_password"]}
    )
    assert token.get_json()["must_change_password"] is True
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.create"))
    assert entry.actor_id == admin.id and entry.after["display_name"] == "陈静"


def test_duplicate_login_names_are_refused_in_chinese(client, db_session):
    org = make_org()
    admin = make_admin(of=org)
    make_user(org=org, login_name="dup01")
    response = client.post(
        "/api/v1/users", headers=bearer(admin), json={"org_id": org.id, "login_name": "DUP01", "name": "某人"}
    )
    assert response.status_code == 409
    assert response.get_json()["fields"]["login_name"] == "该登录名已被使用。"
    assert db.session.scalar(select(func.count()).where(User.login_name == "dup01")) == 1


def test_bad_fields_are_reported_together_and_nothing_is_saved(client, db_session):
    org = make_org()
    admin = make_admin(of=org)
    before = db.session.scalar(select(func.count(User.id)))
    response = client.post(
        "/api/v1/users",
        headers=bearer(admin),
        json={"org_id": org.id, "login_name": "含中文", "name": "名" * 65, "rank": "大官", "phone": "12ab"},
    )
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {"login_name", "display_name", "rank", "phone"}
    assert fields["display_name"] == "姓名超过 64 个字符。"
    control = client.post(
        "/api/v1/users",
        headers=bearer(admin),
        json={"org_id": org.id, "login_name": "ok-name", "name": "a\x00b"},
    )
    assert control.get_json()["fields"]["display_name"] == "包含不可见的控制字符。"
    assert db.session.scalar(select(func.count(User.id))) == before


def test_edit_records_before_and_after_and_deactivation_signs_out(client, app, db_session):
    org = make_org()
    admin = make_admin(of=org)
    cadre = make_user(org=org, name="旧名")
    other = app.test_client()
    login(other, cadre)
    response = client.patch(
        f"/api/v1/users/{cadre.id}", headers=bearer(admin), json={"name": "新名", "is_active": False}
    )
    assert response.status_code == 200
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
    assert entry.before == {"display_name": "旧名", "is_active": True}
    assert entry.after == {"display_name": "新名", "is_active": False}
    assert other.get("/").status_code == 302


def test_admin_web_form_creates_a_user_and_shows_the_password_once(client, db_session):
    org = make_org(name="东城区教育局")
    admin = make_admin(of=org)
    login(client, admin)
    token = csrf_token(client, "/admin/users/new")
    page = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "login_name": "web0001",
            "display_name": "网页新建",
            "org_id": org.id,
            "rank": "below_section",
            "cadre_category": "",
            "phone": "",
        },
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "初始密码只显示这一次" in text and "web0001" in text
    dup = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "login_name": "web0001",
            "display_name": "重复",
            "org_id": org.id,
            "rank": "",
            "cadre_category": "",
            "phone": "",
        },
    )
    assert "该登录名已被使用" in dup.get_data(as_text=True)


def test_overlong_and_non_utf8_form_input_is_handled(client, db_session):
    org = make_org()
    admin = make_admin(of=org)
    login(client, admin)
    token = csrf_token(client, "/admin/users/new")
    long = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "login_name": "x" * 500,
            "display_name": "y" * 500,
            "org_id": org.id,
            "rank": "",
            "cadre_category": "",
            "phone": "",
        },
    )
    assert long.status_code == 200 and "Field cannot be longer" not in long.get_data(as_text=True)
    raw = client.post(
        "/admin/users/new",
        data=b"login_name=\xff\xfe&display_name=\xc3\x28",
        content_type="application/x-www-form-urlencoded",
    )
    assert raw.status_code in (400, 200)  # CSRF refuses it; never a 500
    api = client.post(
        "/api/v1/users",
        headers=bearer(admin) | {"Content-Type": "application/json"},
        data=b'{"login_name": "\xff\xfe"}',
    )
    assert api.status_code == 422


def test_reset_password_gives_a_new_initial_password(client, db_session):
    org = make_org()
    admin = make_admin(of=org)
    cadre = make_user(org=org)
    old = bearer(cadre)
    response = client.post(f"/api/v1/users/{cadre.id}/reset-password", headers=bearer(admin))
    new_password = response.get_json()["initial_password"]
    assert client.get("/api/v1/me", headers=old).status_code == 401
    token = client.post("/api/v1/auth/token", json={"username": cadre.login_name, "password": new_password})
    assert token.status_code == 201 and token.get_json()["must_change_password"] is True


def test_roles_are_granted_and_revoked_on_the_web_with_an_audit_trail(client, db_session):
    from lms.accounts.models import Role, RoleGrant

    org = make_org()
    admin = make_admin(of=org)
    cadre = make_user(org=org)
    login(client, admin)
    token = csrf_token(client, f"/admin/users/{cadre.id}")
    granted = client.post(f"/admin/users/{cadre.id}/roles", data={"csrf_token": token, "role": "teacher"})
    assert granted.status_code == 302
    grant = db.session.scalar(select(RoleGrant).where(RoleGrant.user_id == cadre.id))
    assert grant.role == Role.TEACHER
    refused = client.post(
        f"/admin/users/{cadre.id}/roles", data={"csrf_token": token, "role": "system_admin"}
    )
    assert refused.status_code == 403  # an org admin cannot make a system admin
    assert (
        client.post("/admin/roles/99999999999999999999/revoke", data={"csrf_token": token}).status_code == 404
    )
    assert client.post(f"/admin/roles/{grant.id}/revoke", data={"csrf_token": token}).status_code == 302
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(cadre.id))).all()
    assert {"user.grant_role", "user.revoke_role"} <= set(actions)
