"""Who may manage what. An org admin manages the subtrees they were granted; a system admin all."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from lms.accounts.models import Organization, Role, RoleGrant, User
from lms.core.db import db


@dataclass(frozen=True)
class AdminScope:
    everything: bool
    paths: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.everything or bool(self.paths)

    def covers_path(self, path: str) -> bool:
        return self.everything or any(path.startswith(p) for p in self.paths)

    def covers(self, org: Organization) -> bool:
        return self.covers_path(org.path)

    @property
    def sql_paths(self) -> tuple[str, ...] | None:
        """Paths to filter queries by, or None when unrestricted."""
        return None if self.everything else self.paths


def roles_of(user: User) -> list[RoleGrant]:
    return list(db.session.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id)))


def admin_scope(user: User) -> AdminScope:
    if not user.is_active:
        return AdminScope(False, ())
    grants = roles_of(user)
    if any(g.role == Role.SYSTEM_ADMIN for g in grants):
        return AdminScope(True, ())
    paths = sorted({g.org.path for g in grants if g.role == Role.ORG_ADMIN and g.org is not None})
    # Drop paths nested inside another granted path.
    roots = tuple(p for p in paths if not any(p != q and p.startswith(q) for q in paths))
    return AdminScope(False, roots)


def is_teacher(user: User) -> bool:
    return any(g.role == Role.TEACHER for g in roles_of(user))


def can_grant(actor: User, role: Role, org: Organization | None) -> bool:
    scope = admin_scope(actor)
    if role == Role.SYSTEM_ADMIN:
        return scope.everything
    return org is not None and scope.covers(org)
