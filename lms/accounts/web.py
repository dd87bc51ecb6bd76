"""Request-level helpers for views (web and API)."""

from __future__ import annotations

from flask import g

from lms.accounts.models import User
from lms.accounts.permissions import AdminScope, admin_scope


def current_scope(actor: User) -> AdminScope:
    """The actor's admin scope, computed once per request (templates and views both ask for it)."""
    cached = g.get("lms_admin_scope")
    if cached is None or cached[0] != (actor.id, actor.session_version):
        cached = g.lms_admin_scope = ((actor.id, actor.session_version), admin_scope(actor))
    return cached[1]
