"""``/api/v1``: bearer-token JSON endpoints for accounts, orgs and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from lms.accounts import queries, services
from lms.accounts.errors import PasswordChangeRequired
from lms.accounts.models import Organization, User
from lms.accounts.permissions import AdminScope, roles_of
from lms.accounts.web import current_scope
from lms.audit import queries as audit_queries
from lms.core.db import db
from lms.core.errors import LmsError, Unauthorized, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.core.web import client_ip, current_actor, json_body, page_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = {"api.issue_token"}
BEFORE_PASSWORD_CHANGE = {"api.me", "api.change_password", "api.revoke_token"}


# Endpoints on the hottest path that check a bearer token themselves, in the one statement that also
# reads and locks what they act on (a heartbeat: one round trip and one ORM load less). Each must call
# ``deferred_bearer()`` and, when its own check finds nothing, ``require_bearer()``.
DEFERRED_BEARER = {"api_learning.heartbeat", "api_exams.save_answer"}


@bp.before_request
def authenticate_bearer() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    if not header and current_user.is_authenticated:
        # The platform's own pages call the API with their session cookie; like a form post, a
        # state-changing call must then carry the page's CSRF token (X-CSRFToken header).
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            try:
                validate_csrf(request.headers.get("X-CSRFToken", ""))
            except ValidationError as error:
                raise CsrfFailed() from error
        user = current_user._get_current_object()
    else:
        scheme, _, raw = header.partition(" ")
        if request.endpoint in DEFERRED_BEARER and scheme.lower() == "bearer":
            g.deferred_bearer = raw.strip()
            return
        user = require_bearer(raw.strip() if scheme.lower() == "bearer" else "")
    if user.must_change_password and request.endpoint not in BEFORE_PASSWORD_CHANGE:
        raise PasswordChangeRequired()


def require_bearer(raw: str) -> User:
    """The user of a valid bearer token (kept in ``g`` for ``current_actor``), else 401."""
    token = services.resolve_token(raw) if raw else None
    if token is None:
        raise Unauthorized(N_("A valid bearer token is required."), headers={"WWW-Authenticate": "Bearer"})
    g.api_user, g.api_token = token.user, token
    if token.user.must_change_password and request.endpoint not in BEFORE_PASSWORD_CHANGE:
        raise PasswordChangeRequired()
    return token.user


def deferred_bearer() -> str | None:
    """The bearer token an endpoint in ``DEFERRED_BEARER`` is to check itself (None: a web session)."""
    return g.pop("deferred_bearer", None)


class CsrfFailed(LmsError):
    http_status = 400
    code = "csrf_failed"
    message = N_("The form expired. Please reload the page and try again.")


def org_json(org: Organization) -> dict[str, Any]:
    return {"id": org.id} | services.org_snapshot(org)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "login_name": user.login_name,
        "name": user.display_name,
        "org": {"id": user.org.id, "name": user.org.name},
        "rank": user.rank and str(user.rank),
        "cadre_category": user.cadre_category and str(user.cadre_category),
        "phone": user.phone,
        "is_active": user.is_active,
    }


def page_json(page: Any, render: Any) -> dict[str, Any]:
    return {
        "items": [render(i) for i in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
    }


def _admin() -> tuple[User, AdminScope]:
    actor = current_actor()
    scope = current_scope(actor)
    require(scope.is_admin, "admin")
    return actor, scope


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationFailed(fields={name: N_("Must be a whole number.")})
    return value


# --- authentication -----------------------------------------------------------------------------


@bp.post("/auth/token")
def issue_token() -> tuple[Response, int]:
    data = json_body()
    settings = current_app.extensions["lms.settings"]
    outcome = services.authenticate(
        login_name=str(data.get("username", "")),
        password=str(data.get("password", "")),
        client_ip=client_ip(),
        policy=services.LoginPolicy(
            settings.login_max_failures,
            timedelta(minutes=settings.login_lockout_minutes),
            settings.login_ip_max_failures,
        ),
    )
    if outcome.user is None:
        db.session.commit()  # the failure counts even though the request fails
        assert outcome.error is not None
        raise outcome.error
    raw, token = services.issue_token(user=outcome.user, ttl=timedelta(hours=settings.token_ttl_hours))
    db.session.commit()
    user = outcome.user
    return jsonify(
        token=raw,
        expires_at=token.expires_at.isoformat(),
        must_change_password=user.must_change_password,
        user={"id": user.id, "name": user.display_name, "org": {"id": user.org.id, "name": user.org.name}},
    ), 201


@bp.delete("/auth/token")
def revoke_token() -> tuple[str, int]:
    token = g.get("api_token")
    if token is None:  # signed in with the page's session: there is no token to revoke
        raise Unauthorized(N_("A valid bearer token is required."), headers={"WWW-Authenticate": "Bearer"})
    services.revoke_token(token=token)
    db.session.commit()
    return "", 204


@bp.get("/me")
def me() -> Response:
    user = current_actor()
    scope = current_scope(user)
    return jsonify(
        user_json(user)
        | {
            "must_change_password": user.must_change_password,
            "roles": [{"role": str(r.role), "org_id": r.org_id} for r in roles_of(user)],
            "admin_of": list(scope.paths) if not scope.everything else ["/"],
        }
    )


@bp.post("/me/password")
def change_password() -> tuple[str, int]:
    data = json_body()
    services.change_password(
        user=current_actor(),
        current_password=str(data.get("current_password", "")),
        new_password=str(data.get("new_password", "")),
    )
    db.session.commit()
    return "", 204


# --- organizations ------------------------------------------------------------------------------


@bp.get("/orgs")
def list_orgs() -> Response:
    _, scope = _admin()
    args = page_args(default_per_page=50, max_per_page=200)
    under = (
        queries.get_org(scope, int(request.args["under"]))
        if request.args.get("under", "").isdigit()
        else None
    )
    page = queries.list_orgs(
        scope, under=under, q=request.args.get("q", "")[:100], page=args.page, per_page=args.per_page
    )
    return jsonify(page_json(page, org_json))


@bp.get("/orgs/<int:org_id>")
def get_org(org_id: int) -> Response:
    _, scope = _admin()
    return jsonify(org_json(queries.get_org(scope, org_id)))


@bp.post("/orgs")
def create_org() -> tuple[Response, int]:
    actor, scope = _admin()
    data = json_body()
    parent = queries.get_org(scope, _int(data, "parent_id"))
    org = services.create_org(
        actor=actor,
        parent=parent,
        name=data.get("name", ""),
        kind=data.get("kind", ""),
        code=data.get("code"),
    )
    db.session.commit()
    return jsonify(org_json(org)), 201


@bp.patch("/orgs/<int:org_id>")
def update_org(org_id: int) -> Response:
    actor, scope = _admin()
    org = queries.get_org(scope, org_id)
    data = json_body()
    if "parent_id" in data and data["parent_id"] != org.parent_id:
        org = services.move_org(
            actor=actor, org=org, new_parent=queries.get_org(scope, _int(data, "parent_id"))
        )
    if "name" in data or "code" in data or "is_active" in data:
        org = services.update_org(
            actor=actor,
            org=org,
            name=data.get("name", org.name),
            code=data.get("code", org.code),
            is_active=data.get("is_active"),
        )
    db.session.commit()
    return jsonify(org_json(org))


# --- users --------------------------------------------------------------------------------------


def _user_data(data: dict[str, Any], current: User | None = None) -> services.UserData:
    def field(name: str, attr: str) -> object:
        return data[name] if name in data else (getattr(current, attr) if current else None)

    return services.clean_user_data(
        login_name=field("login_name", "login_name"),
        display_name=field("name", "display_name"),
        rank=field("rank", "rank"),
        cadre_category=field("cadre_category", "cadre_category"),
        phone=field("phone", "phone"),
    )


@bp.get("/users")
def list_users() -> Response:
    _, scope = _admin()
    args = page_args()
    under = (
        queries.get_org(scope, int(request.args["org_id"]))
        if request.args.get("org_id", "").isdigit()
        else None
    )
    page = queries.list_users(
        scope, under=under, q=request.args.get("q", "")[:100], page=args.page, per_page=args.per_page
    )
    return jsonify(page_json(page, user_json))


@bp.get("/users/<int:user_id>")
def get_user(user_id: int) -> Response:
    _, scope = _admin()
    return jsonify(user_json(queries.get_user(scope, user_id)))


@bp.post("/users")
def create_user() -> tuple[Response, int]:
    actor, scope = _admin()
    data = json_body()
    org = queries.get_org(scope, _int(data, "org_id"))
    user, initial = services.create_user(actor=actor, org=org, data=_user_data(data))
    db.session.commit()
    return jsonify(user=user_json(user), initial_password=initial), 201


@bp.patch("/users/<int:user_id>")
def update_user(user_id: int) -> Response:
    actor, scope = _admin()
    user = queries.get_user(scope, user_id)
    data = json_body()
    org = queries.get_org(scope, _int(data, "org_id")) if "org_id" in data else user.org
    active = data.get("is_active")
    if active is not None and not isinstance(active, bool):
        raise ValidationFailed(fields={"is_active": N_("Must be true or false.")})
    services.update_user(actor=actor, user=user, data=_user_data(data, user), org=org, is_active=active)
    db.session.commit()
    return jsonify(user_json(user))


@bp.post("/users/<int:user_id>/reset-password")
def reset_password(user_id: int) -> Response:
    actor, scope = _admin()
    initial = services.reset_password(actor=actor, user=queries.get_user(scope, user_id))
    db.session.commit()
    return jsonify(initial_password=initial)


# --- audit --------------------------------------------------------------------------------------


@bp.get("/audit")
def list_audit() -> Response:
    _, scope = _admin()
    args = page_args(default_per_page=50)
    page = audit_queries.list_entries(scope_paths=scope.sql_paths, page=args.page, per_page=args.per_page)
    return jsonify(
        page_json(
            page,
            lambda e: {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor_name,
                "action": e.action,
                "target": {"type": e.target_type, "id": e.target_id, "label": e.target_label},
                "before": e.before,
                "after": e.after,
            },
        )
    )
