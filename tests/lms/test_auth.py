"""Sign-in on the web and the API: throttling, lockout, no enumeration, forced password change, tokens."""

from __future__ import annotations

from datetime import timedelta

from lms.accounts import services
from lms.core.db import utcnow
from tests.factories import PASSWORD, bearer, csrf_token, login, make_org, make_user


def test_web_login_reaches_home_and_logout_ends_the_session(client):
    user = make_user(org=make_org(), name="李明")
    response = login(client, user)
    assert response.status_code == 302
    home = client.get("/")
    assert "李明，您好" in home.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert client.get("/").status_code == 302  # back to the login page


def test_wrong_password_and_unknown_user_answer_the_same(client):
    user = make_user(org=make_org())
    wrong = login(client, user, password="nope-12345")
    unknown = client.post(
        "/login",
        data={"username": "nobody-here", "password": "x", "csrf_token": csrf_token(client, "/login")},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "登录名或密码错误" in wrong.get_data(as_text=True)
    assert "登录名或密码错误" in unknown.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client):
    user = make_user(org=make_org())
    response = client.post("/login", data={"username": user.login_name, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_repeated_failures_lock_the_account_and_say_when_to_retry(client):
    user = make_user(org=make_org())
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/token", json={"username": user.login_name, "password": "bad-pass1"}
        )
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "login_locked"
    assert "登录失败次数过多" in body["message"] and "分钟" in body["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    # Even the right password is refused while locked.
    right = client.post("/api/v1/auth/token", json={"username": user.login_name, "password": PASSWORD})
    assert right.status_code == 429


def test_unknown_login_names_are_throttled_like_real_ones(client):
    for _ in range(5):
        response = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "bad-pass1"})
    assert response.status_code == 429  # no way to tell a real account from an invented one


def test_lock_expires_after_the_lockout_window(db_session):
    user = make_user(org=make_org())
    policy = services.LoginPolicy(max_failures=2, lockout=timedelta(minutes=15))
    start = utcnow()
    for _ in range(2):
        services.authenticate(
            login_name=user.login_name, password="x", client_ip="1.1.1.1", policy=policy, now=start
        )
    locked = services.authenticate(
        login_name=user.login_name,
        password=PASSWORD,
        client_ip="1.1.1.1",
        policy=policy,
        now=start + timedelta(minutes=1),
    )
    assert locked.user is None and type(locked.error).__name__ == "LoginLocked"
    later = services.authenticate(
        login_name=user.login_name,
        password=PASSWORD,
        client_ip="1.1.1.1",
        policy=policy,
        now=start + timedelta(minutes=16),
    )
    assert later.user is not None


def test_disabled_account_cannot_sign_in(client):
    user = make_user(org=make_org(), active=False)
    response = client.post("/api/v1/auth/token", json={"username": user.login_name, "password": PASSWORD})
    assert response.status_code == 403
    assert response.get_json()["error"] == "account_disabled"


def test_issued_account_must_change_password_before_anything_else(client):
    user = make_user(org=make_org(), must_change_password=True)
    login(client, user)
    assert client.get("/").headers["Location"].endswith("/account/password")
    token = csrf_token(client, "/account/password")
    weak = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "short", "confirm": "short", "csrf_token": token},
    )
    assert "密码至少 8 位" in weak.get_data(as_text=True)
    done = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "NewPass2026",
            "confirm": "NewPass2026",
            "csrf_token": token,
        },
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200


def test_api_token_flow(client):
    user = make_user(org=make_org(name="清河县委组织部"), name="王芳")
    response = client.post(
        "/api/v1/auth/token", json={"username": user.login_name.upper(), "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"] == {
        "id": user.id,
        "name": "王芳",
        "org": {"id": user.org_id, "name": "清河县委组织部"},
    }
    assert body["expires_at"]
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/api/v1/me", headers=headers).get_json()["login_name"] == user.login_name
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_api_rejects_missing_bad_and_expired_tokens(client):
    user = make_user(org=make_org())
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    raw, _ = services.issue_token(user=user, ttl=timedelta(hours=1), now=utcnow() - timedelta(hours=2))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "需要有效的访问令牌（Bearer Token）。"


def test_the_platforms_own_pages_call_the_api_with_their_session_and_csrf_token(client):
    user = make_user(org=make_org())
    login(client, user)
    assert client.get("/api/v1/me").get_json()["login_name"] == user.login_name
    # A state-changing call riding on the cookie alone (what a cross-site page could send) is refused
    forged = client.post("/api/v1/me/password", json={"current_password": "x", "new_password": "y"})
    assert forged.status_code == 400
    assert forged.get_json()["error"] == "csrf_failed"
    token = csrf_token(client, "/")
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": "wrong", "new_password": "Another-Passw0rd!"},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 422  # past the CSRF check: the service judged the request
    # There is no token to revoke for a session
    assert client.delete("/api/v1/auth/token", headers={"X-CSRFToken": token}).status_code == 401


def test_password_change_revokes_tokens_and_other_sessions(client, app):
    user = make_user(org=make_org())
    headers = bearer(user)
    other = app.test_client()
    login(other, user)
    response = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "Another2026x"},
    )
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert other.get("/").status_code == 302  # the other browser is signed out


def test_api_with_initial_password_allows_only_the_password_change(client):
    user = make_user(org=make_org(), must_change_password=True)
    headers = bearer(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    refused = client.get("/api/v1/users", headers=headers)
    assert refused.status_code == 403 and refused.get_json()["error"] == "password_change_required"


def test_api_login_with_malformed_bodies(client):
    assert (
        client.post("/api/v1/auth/token", data="not json", content_type="application/json").status_code == 422
    )
    assert client.post("/api/v1/auth/token", json=["a", "b"]).status_code == 422
    long = client.post("/api/v1/auth/token", json={"username": "x" * 10_000, "password": "y" * 10_000})
    assert long.status_code == 401


def test_login_redirect_never_leaves_the_site(client):
    user = make_user(org=make_org())
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": user.login_name, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_behind_a_proxy_throttling_uses_the_real_client_address(tmp_path):
    from lms.app import create_app
    from lms.core.db import db
    from tests.conftest import make_settings

    app = create_app(
        make_settings(
            tmp_path,
            LMS_PROXY_HOPS="1",
            LMS_LOGIN_IP_MAX_FAILURES="2",
            LMS_DATABASE_URL=f"sqlite:///{tmp_path / 'proxy.sqlite'}",
        )
    )
    with app.app_context():
        db.create_all()
    client = app.test_client()

    def attempt(ip: str) -> int:
        return client.post(
            "/api/v1/auth/token",
            json={"username": f"u{ip}", "password": "x"},
            headers={"X-Forwarded-For": ip},
        ).status_code

    assert [attempt("10.0.0.1"), attempt("10.0.0.1")] == [401, 429]  # that address is locked out
    assert attempt("10.0.0.2") == 401  # a colleague behind another address is not
    with app.app_context():
        db.engine.dispose()


def test_older_password_hashes_still_work_and_are_upgraded_to_argon2id(client, db_session):
    from werkzeug.security import generate_password_hash

    from lms.accounts.models import User
    from lms.core.db import db

    user = make_user(org=make_org())
    user.password_hash = generate_password_hash("Legacy-2024x")  # werkzeug scrypt, as before
    db.session.flush()
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": user.login_name, "password": "Legacy-2024x"}
        ).status_code
        == 201
    )
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash.startswith("$argon2id$")
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": user.login_name, "password": "Legacy-2024x"}
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": user.login_name, "password": "wrong-2024x"}
        ).status_code
        == 401
    )
