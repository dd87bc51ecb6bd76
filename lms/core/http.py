"""Error mapping (typed errors -> HTML page or JSON body) and security headers, registered once."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from lms.core.db import db
from lms.core.errors import LmsError, ServiceUnavailable
from lms.core.i18n import N_

log = logging.getLogger(__name__)

# Chinese-first messages for HTTP errors raised by Flask/Werkzeug itself.
_HTTP_MESSAGES = {
    400: N_("The request could not be processed."),
    401: N_("Please sign in."),
    403: N_("You do not have permission to do this."),
    404: N_("Not found."),
    405: N_("This method is not allowed here."),
    413: N_("The upload is too large."),
    429: N_("Too many attempts. Please try again later."),
    500: N_("Something went wrong on our side. Please try again."),
}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def _respond(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json():
        body: dict[str, object] = {"error": code, "message": message}
        if fields:
            body["fields"] = fields
        response = jsonify(body)
    else:
        template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/generic.html"
        response = Response(
            render_template(template, status=status, message=message, fields=fields or {}),
            mimetype="text/html",
        )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(LmsError)
    def handle_lms_error(error: LmsError) -> Response:
        if error.http_status >= 500:
            db.session.rollback()
        message = gettext(error.message_id, **error.params)
        fields = {name: gettext(text) for name, text in error.fields.items()}
        return _respond(error.http_status, error.code, message, fields, error.headers)

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError) -> Response:
        return _respond(
            400, "csrf_failed", gettext("The form expired. Please reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException) -> Response:
        status = error.code or 500
        text = _HTTP_MESSAGES.get(status, "The request could not be processed.")
        return _respond(status, error.name.lower().replace(" ", "_"), gettext(text))

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Response:
        db.session.rollback()
        if error.connection_invalidated or isinstance(error, OperationalError):
            # The database went away (restart, failover): the pool reconnects; the caller retries.
            log.warning("database unavailable on %s %s: %s", request.method, request.path, error.orig)
            unavailable = ServiceUnavailable()
            return _respond(503, unavailable.code, gettext(unavailable.message_id), {}, {"Retry-After": "5"})
        return handle_unexpected(error)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return _respond(500, "internal_error", gettext(_HTTP_MESSAGES[500]))


# Media and presigned object-store URLs may live on another origin (MinIO); scripts and styles never do.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: https: http:",
        "connect-src 'self' https: http:",
        "style-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def api_headers(*, secure: bool) -> list[tuple[str, str]]:
    """Every header ``set_headers`` gives a JSON API response (for answers made outside Flask)."""
    return [*SECURITY_HEADERS, *([HSTS] if secure else []), ("Cache-Control", "no-store")]


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def set_headers(response: Response) -> Response:
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers.setdefault(name, value)
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault(*HSTS)
        if request.path.startswith("/api/") or response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        return response
