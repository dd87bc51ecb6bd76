from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select

from lms.audit.models import AuditEntry
from lms.core.db import db
from lms.core.pagination import Page


def list_entries(*, scope_paths: Sequence[str] | None, page: int, per_page: int) -> Page:
    """Entries under any of ``scope_paths`` (None: everything, for system admins), newest first."""
    stmt = select(AuditEntry)
    if scope_paths is not None:
        if not scope_paths:
            return Page([], 0, page, per_page)
        stmt = stmt.where(or_(*(AuditEntry.org_path.startswith(p, autoescape=True) for p in scope_paths)))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.order_by(AuditEntry.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Page(list(rows), total, page, per_page)
