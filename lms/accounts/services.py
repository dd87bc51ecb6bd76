"""State changes for accounts. Services take the acting user explicitly and never commit."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, bindparam, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from lms.accounts import validation as v
from lms.accounts.errors import (
    AccountDisabled,
    InvalidCredentials,
    InvalidMove,
    LoginLocked,
    LoginNameTaken,
    OrgCodeTaken,
    OrgNameTaken,
)
from lms.accounts.models import (
    ApiToken,
    CadreCategory,
    LoginThrottle,
    Organization,
    OrgKind,
    Rank,
    Role,
    RoleGrant,
    User,
)
from lms.accounts.passwords import hash_initial_password, hash_password, needs_rehash, verify_password
from lms.accounts.permissions import admin_scope, can_grant
from lms.audit import services as audit
from lms.core.db import db, utcnow
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require

_CHINA_TZ = ZoneInfo("Asia/Shanghai")

# Compared against when the login name is unknown, so both paths take the same time.
_DUMMY_HASH = hash_password("not-a-real-password-0")


def generate_initial_password() -> str:
    """12 characters, letters and digits, without look-alikes (0/O, 1/l/I)."""
    letters = "".join(c for c in string.ascii_letters if c not in "OlI")
    digits = "23456789"
    chars = [secrets.choice(letters) for _ in range(8)] + [secrets.choice(digits) for _ in range(4)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _fields(**cleaners: Any) -> dict[str, Any]:
    """Run each (cleaner, value) pair, collecting all field errors before raising."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, (cleaner, value) in cleaners.items():
        try:
            values[name] = cleaner(value)
        except v.FieldError as error:
            errors[name] = error.message_id
    if errors:
        raise ValidationFailed(fields=errors)
    return values


# --- the org tree -------------------------------------------------------------------------------


def org_snapshot(org: Organization) -> dict[str, Any]:
    return {
        "name": org.name,
        "kind": str(org.kind),
        "code": org.code,
        "parent_id": org.parent_id,
        "path": org.path,
        "is_active": org.is_active,
    }


def _check_org_unique(name: str, parent_id: int | None, code: str | None, *, exclude_id: int | None) -> None:
    same_name = select(Organization.id).where(Organization.name == name, Organization.parent_id == parent_id)
    if code:
        same_code = select(Organization.id).where(Organization.code == code)
        if exclude_id is not None:
            same_code = same_code.where(Organization.id != exclude_id)
        if db.session.scalar(same_code) is not None:
            raise OrgCodeTaken(fields={"code": OrgCodeTaken.message})
    if exclude_id is not None:
        same_name = same_name.where(Organization.id != exclude_id)
    if db.session.scalar(same_name) is not None:
        raise OrgNameTaken(fields={"name": OrgNameTaken.message})


def create_org(
    *,
    actor: User | None,
    parent: Organization | None,
    name: str,
    kind: OrgKind | str,
    code: str | None = None,
) -> Organization:
    """A new unit under ``parent``; only a system admin (or the CLI, ``actor=None``) creates a root."""
    if actor is not None:
        scope = admin_scope(actor)
        require(scope.everything if parent is None else scope.covers(parent), "create_org")
    values = _fields(
        name=(v.clean_org_name, name), kind=(v.clean_org_kind, kind), code=(v.clean_org_code, code)
    )
    _check_org_unique(values["name"], parent.id if parent else None, values["code"], exclude_id=None)
    org = Organization(parent_id=parent.id if parent else None, **values)
    db.session.add(org)
    db.session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    org.depth = parent.depth + 1 if parent else 0
    db.session.flush()
    audit.record(
        actor=actor,
        action="org.create",
        target_type="org",
        target_id=org.id,
        target_label=org.name,
        org_path=org.path,
        after=org_snapshot(org),
    )
    return org


def update_org(
    *, actor: User, org: Organization, name: str, code: str | None, is_active: bool | None = None
) -> Organization:
    require(admin_scope(actor).covers(org), "update_org")
    values = _fields(name=(v.clean_org_name, name), code=(v.clean_org_code, code))
    _check_org_unique(values["name"], org.parent_id, values["code"], exclude_id=org.id)
    before = org_snapshot(org)
    org.name, org.code = values["name"], values["code"]
    if is_active is not None:
        org.is_active = is_active
    db.session.flush()
    audit.record_change(
        actor=actor,
        action="org.update",
        target_type="org",
        target_id=org.id,
        target_label=org.name,
        org_path=org.path,
        before=before,
        after=org_snapshot(org),
    )
    return org


def move_org(*, actor: User, org: Organization, new_parent: Organization) -> Organization:
    """Move ``org`` and its whole subtree under ``new_parent``: one UPDATE rewrites every path."""
    scope = admin_scope(actor)
    # The actor must manage where the unit leaves from (its parent) and where it goes.
    current_parent = db.session.get(Organization, org.parent_id) if org.parent_id else None
    require(
        current_parent is not None and scope.covers(current_parent) and scope.covers(new_parent), "move_org"
    )
    if new_parent.path.startswith(org.path):
        raise InvalidMove()
    if new_parent.id == org.parent_id:
        return org
    _check_org_unique(org.name, new_parent.id, None, exclude_id=org.id)
    before = org_snapshot(org)
    old_prefix, new_prefix = org.path, f"{new_parent.path}{org.id}/"
    depth_delta = new_parent.depth + 1 - org.depth
    db.session.execute(
        update(Organization)
        .where(Organization.path.startswith(old_prefix, autoescape=True))
        .values(
            path=literal(new_prefix, String) + func.substr(Organization.path, len(old_prefix) + 1),
            depth=Organization.depth + depth_delta,
        )
        .execution_options(synchronize_session=False)
    )
    org.parent_id = new_parent.id
    db.session.flush()
    db.session.expire_all()
    org = db.session.get(Organization, org.id)  # type: ignore[assignment]
    audit.record(
        actor=actor,
        action="org.move",
        target_type="org",
        target_id=org.id,
        target_label=org.name,
        org_path=org.path,
        before={"parent_id": before["parent_id"], "path": before["path"]},
        after={"parent_id": org.parent_id, "path": org.path},
    )
    return org


# --- users --------------------------------------------------------------------------------------


def user_label(user: User) -> str:
    return f"{user.display_name} ({user.login_name})"


def user_snapshot(user: User) -> dict[str, Any]:
    return {
        "login_name": user.login_name,
        "display_name": user.display_name,
        "org_id": user.org_id,
        "rank": user.rank and str(user.rank),
        "cadre_category": user.cadre_category and str(user.cadre_category),
        "phone": user.phone,
        "is_active": user.is_active,
        "is_learner": user.is_learner,
    }


@dataclass(frozen=True)
class UserData:
    """Validated fields of a user (the result of ``clean_user_data``)."""

    login_name: str
    display_name: str
    rank: Rank | None
    cadre_category: CadreCategory | None
    phone: str | None


def clean_user_data(
    *,
    login_name: object,
    display_name: object,
    rank: object = None,
    cadre_category: object = None,
    phone: object = None,
) -> UserData:
    values = _fields(
        login_name=(v.clean_login_name, login_name),
        display_name=(v.clean_display_name, display_name),
        rank=(v.clean_rank, rank),
        cadre_category=(v.clean_cadre_category, cadre_category),
        phone=(v.clean_phone, phone),
    )
    return UserData(**values)


def create_user(
    *,
    actor: User | None,
    org: Organization,
    data: UserData,
    password: str | None = None,
    must_change_password: bool = True,
    is_learner: bool = True,
    password_hash: str | None = None,
) -> tuple[User, str]:
    """Issue an account in ``org``. Returns the user and the initial password (shown once).

    ``password_hash`` (seeding only) sets a precomputed hash instead; the returned password is then "".
    """
    if actor is not None:
        require(admin_scope(actor).covers(org), "create_user")
    if db.session.scalar(select(User.id).where(User.login_name == data.login_name)) is not None:
        raise LoginNameTaken(fields={"login_name": LoginNameTaken.message})
    initial = "" if password_hash else (password or generate_initial_password())
    if password:
        _check_password_or_raise(password, data.login_name)
    if not password_hash:
        password_hash = hash_password(initial) if password else hash_initial_password(initial)
    user = User(
        login_name=data.login_name,
        display_name=data.display_name,
        org_id=org.id,
        rank=data.rank,
        cadre_category=data.cadre_category,
        phone=data.phone,
        password_hash=password_hash,
        must_change_password=must_change_password,
        is_learner=is_learner,
    )
    db.session.add(user)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # a concurrent request took the name between check and insert
        raise LoginNameTaken(fields={"login_name": LoginNameTaken.message}) from None
    audit.record(
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        target_label=user_label(user),
        org_path=org.path,
        after=user_snapshot(user),
    )
    return user, initial


def update_user(
    *, actor: User, user: User, data: UserData, org: Organization, is_active: bool | None = None
) -> User:
    scope = admin_scope(actor)
    require(scope.covers(user.org) and scope.covers(org), "update_user")
    if (
        data.login_name != user.login_name
        and db.session.scalar(select(User.id).where(User.login_name == data.login_name)) is not None
    ):
        raise LoginNameTaken(fields={"login_name": LoginNameTaken.message})
    before = user_snapshot(user)
    user.login_name, user.display_name = data.login_name, data.display_name
    user.rank, user.cadre_category, user.phone = data.rank, data.cadre_category, data.phone
    user.org_id = org.id
    user.org = org
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        if not is_active:
            _invalidate_sessions(user)
    db.session.flush()
    audit.record_change(
        actor=actor,
        action="user.update",
        target_type="user",
        target_id=user.id,
        target_label=user_label(user),
        org_path=org.path,
        before=before,
        after=user_snapshot(user),
    )
    return user


def reset_password(*, actor: User, user: User) -> str:
    """A new initial password the user must change at next sign-in; signs the user out everywhere."""
    require(admin_scope(actor).covers(user.org), "reset_password")
    initial = generate_initial_password()
    user.password_hash = hash_initial_password(initial)
    user.must_change_password = True
    _invalidate_sessions(user)
    db.session.flush()
    audit.record(
        actor=actor,
        action="user.reset_password",
        target_type="user",
        target_id=user.id,
        target_label=user_label(user),
        org_path=user.org.path,
    )
    return initial


def _check_password_or_raise(password: str, login_name: str, field: str = "password") -> None:
    try:
        v.check_password(password, login_name=login_name)
    except v.FieldError as error:
        raise ValidationFailed(fields={field: error.message_id}) from None


def change_password(
    *, user: User, current_password: str, new_password: str, now: datetime | None = None
) -> User:
    """The user changes their own password; other sessions and tokens stop working."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(fields={"current_password": N_("The current password is wrong.")})
    _check_password_or_raise(new_password, user.login_name, field="new_password")
    if verify_password(user.password_hash, new_password):
        raise ValidationFailed(
            fields={"new_password": N_("The new password must differ from the current one.")}
        )
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = now or utcnow()
    _invalidate_sessions(user)
    db.session.flush()
    return user


def _invalidate_sessions(user: User) -> None:
    user.session_version += 1
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def grant_role(*, actor: User, user: User, role: Role, org: Organization | None = None) -> RoleGrant:
    if role != Role.ORG_ADMIN:
        org = None if role == Role.SYSTEM_ADMIN else user.org
    elif org is None:
        raise ValidationFailed(fields={"org_id": N_("Choose the unit this administrator manages.")})
    require(can_grant(actor, role, org) and admin_scope(actor).covers(user.org), "grant_role")
    existing = db.session.scalar(
        select(RoleGrant).where(
            RoleGrant.user_id == user.id,
            RoleGrant.role == role,
            RoleGrant.org_id.is_(None) if org is None else RoleGrant.org_id == org.id,
        )
    )
    if existing:
        return existing
    grant = RoleGrant(user_id=user.id, role=role, org_id=org.id if org else None)
    db.session.add(grant)
    db.session.flush()
    audit.record(
        actor=actor,
        action="user.grant_role",
        target_type="user",
        target_id=user.id,
        target_label=user_label(user),
        org_path=user.org.path,
        after={"role": str(role), "org_id": grant.org_id},
    )
    return grant


def revoke_role(*, actor: User, grant: RoleGrant) -> None:
    user = db.session.get(User, grant.user_id)
    if user is None:
        raise NotFound()
    require(can_grant(actor, grant.role, grant.org) and admin_scope(actor).covers(user.org), "revoke_role")
    audit.record(
        actor=actor,
        action="user.revoke_role",
        target_type="user",
        target_id=user.id,
        target_label=user_label(user),
        org_path=user.org.path,
        before={"role": str(grant.role), "org_id": grant.org_id},
    )
    db.session.delete(grant)
    db.session.flush()


# --- sign-in, throttling and tokens -------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    ip_max_failures: int = 50


@dataclass(frozen=True)
class LoginOutcome:
    """What ``authenticate`` decided. The caller commits (failures must persist), then raises ``error``."""

    user: User | None
    error: Exception | None


def _throttle_row(key: str, now: datetime) -> LoginThrottle:
    row = db.session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        try:
            with db.session.begin_nested():
                row = LoginThrottle(key=key, failures=0, window_started_at=now)
                db.session.add(row)
        except IntegrityError:  # created concurrently
            row = db.session.get(LoginThrottle, key, with_for_update=True, populate_existing=True)
            assert row is not None
    return row


def _locked_until(keys: list[str], now: datetime) -> datetime | None:
    rows = db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    until = [r.locked_until for r in rows if r.locked_until and r.locked_until > now]
    return max(until) if until else None


def _record_failure(key: str, limit: int, policy: LoginPolicy, now: datetime) -> datetime | None:
    row = _throttle_row(key, now)
    if row.window_started_at < now - policy.lockout:
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + policy.lockout
    db.session.flush()
    return row.locked_until


def _locked(until: datetime, now: datetime) -> LoginLocked:
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    local = until.astimezone(_CHINA_TZ).strftime("%H:%M")
    seconds = max(1, int((until - now).total_seconds()))
    return LoginLocked(retry_at=local, minutes=minutes, headers={"Retry-After": str(seconds)})


def authenticate(
    *, login_name: str, password: str, client_ip: str, policy: LoginPolicy, now: datetime | None = None
) -> LoginOutcome:
    """Check a sign-in. Unknown names and wrong passwords answer the same, in the same time."""
    now = now or utcnow()
    name = str(login_name or "").strip().lower()[:64]
    user_key, ip_key = f"user:{name}", f"ip:{client_ip}"
    locked = _locked_until([user_key, ip_key], now)
    if locked:
        return LoginOutcome(None, _locked(locked, now))
    user = db.session.scalar(select(User).where(User.login_name == name)) if name else None
    candidate = str(password or "")[:256]
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, candidate)
    if user is not None and ok:
        if not user.is_active:
            return LoginOutcome(None, AccountDisabled())
        row = db.session.get(LoginThrottle, user_key)
        if row is not None:
            db.session.delete(row)
        if needs_rehash(user.password_hash) and not user.must_change_password:
            user.password_hash = hash_password(candidate)
        user.last_login_at = now
        db.session.flush()
        return LoginOutcome(user, None)
    locked_user = _record_failure(user_key, policy.max_failures, policy, now)
    locked_ip = _record_failure(ip_key, policy.ip_max_failures, policy, now)
    locked = max((t for t in (locked_user, locked_ip) if t), default=None)
    return LoginOutcome(None, _locked(locked, now) if locked else InvalidCredentials())


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(*, user: User, ttl: timedelta, now: datetime | None = None) -> tuple[str, ApiToken]:
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(raw),
        created_at=now,
        expires_at=now + ttl,
        session_version=user.session_version,
    )
    db.session.add(token)
    db.session.flush()
    return raw, token


# A bearer token that authenticates its user now: bind ``token_hash`` and ``now`` (``token_params``).
# Endpoints on a hot path join it into the statement that reads what they act on.
TOKEN_IS_VALID = and_(
    ApiToken.token_hash == bindparam("token_hash"),
    ApiToken.revoked_at.is_(None),
    ApiToken.expires_at > bindparam("now"),
    ApiToken.user_id == User.id,
    User.is_active.is_(True),
    User.session_version == ApiToken.session_version,
)


def token_params(raw: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The parameters of ``TOKEN_IS_VALID`` for a presented token (None: it cannot be one)."""
    if not raw or len(raw) > 200:
        return None
    return {"token_hash": _token_hash(raw), "now": now or utcnow()}


_RESOLVE_TOKEN = (
    select(ApiToken).join(ApiToken.user).options(contains_eager(ApiToken.user)).where(TOKEN_IS_VALID)
)


def resolve_token(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    params = token_params(raw, now)
    if params is None:
        return None
    return db.session.scalar(_RESOLVE_TOKEN, params)


def revoke_token(*, token: ApiToken, now: datetime | None = None) -> None:
    token.revoked_at = now or utcnow()
    db.session.flush()


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's loader: ``<user id>:<session version>``; a stale version signs the session out."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user
