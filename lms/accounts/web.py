"""Request-level helpers for views (web and API)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from flask_login import current_user

from lms.accounts.models import User
from lms.accounts.permissions import AdminScope, admin_scope
from lms.accounts.services import resolve_token
from lms.core.errors import Unauthorized
from lms.core.i18n import N_


def current_scope(actor: User) -> AdminScope:
    """The actor's admin scope, computed once per request (templates and views both ask for it)."""
    cached = g.get("lms_admin_scope")
    if cached is None or cached[0] != (actor.id, actor.session_version):
        cached = g.lms_admin_scope = ((actor.id, actor.session_version), admin_scope(actor))
    return cached[1]


F = TypeVar("F", bound=Callable[..., Any])


def session_or_bearer(view: F) -> F:
    """For media a player fetches (playlists): the page's session cookie, or an app's bearer token.
    Answers 401 rather than redirecting to the sign-in page, which a player could not follow."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, raw = header.partition(" ")
            token = resolve_token(raw.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                raise Unauthorized(
                    N_("A valid bearer token is required."), headers={"WWW-Authenticate": "Bearer"}
                )
            g.api_user = token.user
        elif not current_user.is_authenticated:
            raise Unauthorized()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
