"""Helpers for views only: the acting user, pagination arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import g, request
from flask_login import current_user

from lms.core.errors import Unauthorized

if TYPE_CHECKING:
    from lms.accounts.models import User


def current_actor() -> User:
    """The real signed-in ``User`` (API bearer token or web session), never the proxy."""
    user = g.get("api_user")
    if user is not None:
        return user
    if not current_user.is_authenticated:
        raise Unauthorized()
    return current_user._get_current_object()  # type: ignore[no-any-return]


MAX_PAGE = 100_000  # keeps OFFSET within every database's integer range


@dataclass(frozen=True)
class PageArgs:
    page: int
    per_page: int


def page_args(default_per_page: int = 20, max_per_page: int = 100) -> PageArgs:
    def number(name: str, default: int, maximum: int) -> int:
        try:
            return min(max(1, int(request.args.get(name, default))), maximum)
        except ValueError:
            return default

    return PageArgs(number("page", 1, MAX_PAGE), number("per_page", default_per_page, max_per_page))


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 422 naming the problem."""
    from lms.core.errors import ValidationFailed
    from lms.core.i18n import N_

    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(N_("The request body must be a JSON object."))
    return data


def client_ip() -> str:
    return request.remote_addr or "unknown"


def apply_field_errors(form: Any, failed: Any) -> None:
    """Show a service's field errors (``ValidationFailed.fields``) on a Flask-WTF form."""
    from flask_babel import gettext

    for name, message in failed.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, gettext(message)]
        else:
            form.form_errors.append(gettext(message))
    if not failed.fields:
        form.form_errors.append(gettext(failed.message_id, **failed.params))


def error_text(error: Any) -> str:
    """The Chinese text to flash for a service's ``LmsError``: its first field message, else its message."""
    from flask_babel import gettext

    return gettext(next(iter(error.fields.values()), None) or error.message_id, **error.params)
