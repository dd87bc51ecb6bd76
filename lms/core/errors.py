"""Typed domain errors. ``lms.core.http`` maps them to HTML or JSON responses in one place.

Messages are English message ids translated by Flask-Babel when shown; ``params`` fill them in.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lms.core.i18n import N_


class LmsError(Exception):
    http_status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        self.message_id = message or type(self).message
        self.fields = fields or {}
        self.headers = headers or {}
        self.params = params
        super().__init__(self.message_id % params if params else self.message_id)


class NotFound(LmsError):
    http_status = 404
    code = "not_found"
    message = N_("Not found.")


class Unauthorized(LmsError):
    http_status = 401
    code = "unauthorized"
    message = N_("Please sign in.")


class PermissionDenied(LmsError):
    http_status = 403
    code = "forbidden"
    message = N_("You do not have permission to do this.")


class Conflict(LmsError):
    http_status = 409
    code = "conflict"
    message = N_("This conflicts with existing data.")


class InvalidState(LmsError):
    http_status = 409
    code = "invalid_state"
    message = N_("This cannot be done in the current state.")


class ValidationFailed(LmsError):
    http_status = 422
    code = "validation_failed"
    message = N_("Some fields are not valid.")


class TooManyRequests(LmsError):
    http_status = 429
    code = "too_many_requests"
    message = N_("Too many attempts. Please try again later.")


class ServiceUnavailable(LmsError):
    http_status = 503
    code = "service_unavailable"
    message = N_("A service the platform depends on is unavailable. Please try again shortly.")
