"""Reads for accounts. Every admin-facing read takes the actor's ``AdminScope``."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select

from lms.accounts.models import CadreCategory, Organization, Rank, RoleGrant, User
from lms.accounts.permissions import AdminScope
from lms.core.db import db
from lms.core.errors import NotFound
from lms.core.pagination import Page


def _in_scope(column, scope: AdminScope):  # type: ignore[no-untyped-def]
    paths = scope.sql_paths
    if paths is None:
        return None
    return or_(*(column.startswith(p, autoescape=True) for p in paths)) if paths else False


def _scoped(stmt: Select, column, scope: AdminScope) -> Select:  # type: ignore[no-untyped-def]
    condition = _in_scope(column, scope)
    return stmt if condition is None else stmt.where(condition)


def _page(stmt: Select, page: int, per_page: int) -> Page:
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), total, page, per_page)


MAX_ID = 2**31 - 1  # ids are 32-bit integers in every database we run on


def find_org(org_id: int) -> Organization | None:
    return db.session.get(Organization, org_id) if 0 < org_id <= MAX_ID else None


def get_org(scope: AdminScope, org_id: int) -> Organization:
    """The org if the scope covers it; otherwise NotFound (we do not confirm it exists)."""
    org = find_org(org_id)
    if org is None or not scope.covers(org):
        raise NotFound()
    return org


def find_org_by_code(code: str) -> Organization | None:
    return db.session.scalar(select(Organization).where(Organization.code == code))


def list_orgs(
    scope: AdminScope, *, under: Organization | None = None, q: str = "", page: int = 1, per_page: int = 50
) -> Page:
    """Orgs in the scope in tree order (by path), optionally under one org and matching ``q``."""
    stmt = _scoped(select(Organization), Organization.path, scope)
    if under is not None:
        stmt = stmt.where(Organization.path.startswith(under.path, autoescape=True))
    if q:
        stmt = stmt.where(Organization.name.contains(q, autoescape=True))
    return _page(stmt.order_by(Organization.path), page, per_page)


def find_user_by_login(login_name: str) -> User | None:
    return db.session.scalar(select(User).where(User.login_name == login_name))


def get_user(scope: AdminScope, user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None or not scope.covers(user.org):
        raise NotFound()
    return user


def find_grant(grant_id: int) -> RoleGrant | None:
    return db.session.get(RoleGrant, grant_id) if 0 < grant_id <= MAX_ID else None


def list_users(
    scope: AdminScope,
    *,
    under: Organization | None = None,
    q: str = "",
    rank: Rank | None = None,
    cadre_category: CadreCategory | None = None,
    active: bool | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    stmt = _scoped(select(User).join(User.org), Organization.path, scope)
    if under is not None:
        stmt = stmt.where(Organization.path.startswith(under.path, autoescape=True))
    if q:
        stmt = stmt.where(
            or_(
                User.display_name.contains(q, autoescape=True),
                User.login_name.contains(q.lower(), autoescape=True),
            )
        )
    if rank is not None:
        stmt = stmt.where(User.rank == rank)
    if cadre_category is not None:
        stmt = stmt.where(User.cadre_category == cadre_category)
    if active is not None:
        stmt = stmt.where(User.is_active == active)
    return _page(stmt.order_by(Organization.path, User.display_name, User.id), page, per_page)


def count_users(scope: AdminScope) -> int:
    stmt = _scoped(select(func.count(User.id)).join(User.org), Organization.path, scope)
    return db.session.scalar(stmt) or 0


def count_orgs(scope: AdminScope) -> int:
    return db.session.scalar(_scoped(select(func.count(Organization.id)), Organization.path, scope)) or 0
