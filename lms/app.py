"""The composition root: builds the Flask app from ``Settings``. Touches no database or service."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, has_request_context, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from werkzeug.middleware.proxy_fix import ProxyFix

from lms.core.db import db
from lms.core.http import register_error_handlers, register_security_headers
from lms.core.i18n import N_
from lms.core.tasks import celery_init_app
from lms.extensions import babel, csrf, login_manager, migrate
from lms.settings import Settings

LOCALES = ("zh_Hans", "en")
_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.extensions["lms.settings"] = settings
    if settings.proxy_hops:
        # Behind nginx or a load balancer: the client address (sign-in throttling, logs) and the
        # scheme come from X-Forwarded-* set by that many trusted proxies.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops, x_host=settings.proxy_hops
        )  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        TESTING=settings.env == "test",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        REMEMBER_COOKIE_DURATION=timedelta(days=14),
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="zh_Hans",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.database_url.startswith("sqlite"):
        settings.instance_dir.mkdir(parents=True, exist_ok=True)

    import lms.models  # noqa: F401  (complete metadata before anything reflects on it)

    db.init_app(app)
    with app.app_context():
        _install_sqlite_hooks(db.engine)  # creating the engine opens no connection
        _install_idle_ping(db.engine)
    migrate.init_app(app, db, directory=str(_MIGRATIONS_DIR), compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=lambda: "Asia/Shanghai")
    _init_login(app)
    celery_init_app(app, settings.celery_broker_url, always_eager=settings.celery_always_eager)

    register_error_handlers(app)
    register_security_headers(app)
    _register_blueprints(app)
    _register_cli(app)
    _connect_signals()
    app.before_request(_force_password_change)
    _install_heartbeat_route(app)
    app.context_processor(_template_globals)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["enrollment_of"] = _enrollment_of
    app.jinja_env.filters["json_text"] = lambda value: json.dumps(value, ensure_ascii=False)
    app.jinja_env.filters["hours"] = lambda value: f"{value:.2f}".rstrip("0").rstrip(".")  # 90, 0.25, 1.5
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return app


def _install_heartbeat_route(app: Flask) -> None:
    """The heartbeat's hot path answers plain bearer-token heartbeats before Flask (see its module)."""
    from lms.api.heartbeat_route import HeartbeatRoute

    app.wsgi_app = HeartbeatRoute(app, app.wsgi_app)  # type: ignore[method-assign]


def _enrollment_of(course_id: int) -> dict[str, bool]:
    """For course pages: is the course in the signed-in cadre's courses, and have they studied it?"""
    from lms.learning.enrollment import has_studied, is_enrolled

    if not current_user.is_authenticated:
        return {"enrolled": False, "studied": False}
    return {
        "enrolled": is_enrolled(current_user.id, course_id),
        "studied": has_studied(current_user.id, course_id),
    }


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {
        "pool_size": 10,
        "max_overflow": 20,
        "pool_timeout": 10,
        "connect_args": {"connect_timeout": 5},
    }


IDLE_PING_S = 5.0


def _install_idle_ping(engine: Engine) -> None:
    """PostgreSQL: test a pooled connection before use only when it sat idle for ``IDLE_PING_S``, so a
    database restart costs no request; unlike ``pool_pre_ping``, a busy pool (heartbeats, autosaves)
    then pays no round trip per request. A connection lost while busy fails its request with a 503
    (lms.core.http) and SQLAlchemy renews the pool."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool retries with a new connection
            raise DisconnectionError() from error


def _install_sqlite_hooks(engine: Engine) -> None:
    """SQLite only: WAL, foreign keys, a busy timeout, and transactions driven by SQLAlchemy so that
    SAVEPOINTs behave as on PostgreSQL (the pysqlite recipe in SQLAlchemy's docs). Only the app's own
    engine gets these (kombu's SQLite broker engine keeps pysqlite's defaults)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock up front, so concurrent writers wait (busy_timeout) instead of
        # failing with SQLITE_BUSY when a read transaction later tries to write. Transactions serialize:
        # fine for the embedded default (a first look, a small site); PostgreSQL is for scale.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _select_locale() -> str:
    if not has_request_context():  # CLI commands and tasks speak Chinese
        return "zh_Hans"
    chosen = request.args.get("lang") or request.cookies.get("lang")
    return chosen if chosen in LOCALES else "zh_Hans"


def _init_login(app: Flask) -> None:
    from lms.accounts.services import load_session_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = N_("Please sign in.")
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)


def _force_password_change():  # type: ignore[no-untyped-def]
    """Issued accounts must set their own password before doing anything else (web pages)."""
    if request.path.startswith(("/api/", "/static/", "/healthz", "/readyz")):
        return None
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in ("auth.change_password", "auth.logout")
    ):
        return redirect(url_for("auth.change_password"))
    return None


def _template_globals() -> dict[str, object]:
    from lms.accounts.permissions import is_teacher
    from lms.accounts.web import current_scope

    signed_in = current_user.is_authenticated and "api_user" not in g
    scope = current_scope(current_user) if signed_in else None
    is_admin = bool(scope and scope.is_admin)
    return {
        "is_admin": is_admin,
        "can_author": signed_in and (is_admin or is_teacher(current_user)),
        "current_locale": _select_locale(),
    }


def _register_blueprints(app: Flask) -> None:
    from lms.accounts.views import bp as auth_bp
    from lms.admin.views import bp as admin_bp
    from lms.api.catalog import bp as api_catalog_bp
    from lms.api.claims import bp as api_claims_bp
    from lms.api.exams import bp as api_exams_bp
    from lms.api.learning import bp as api_learning_bp
    from lms.api.media import bp as api_media_bp
    from lms.api.reports import bp as api_reports_bp
    from lms.api.v1 import bp as api_bp
    from lms.archive.views import bp as archive_bp
    from lms.authoring.views import bp as authoring_bp
    from lms.authoring.views import reading_bp
    from lms.discovery.views import bp as catalog_bp
    from lms.exams.views import bp as exams_bp
    from lms.learning.views import bp as learn_bp
    from lms.media.views import bp as media_bp
    from lms.ops.views import bp as ops_bp
    from lms.portal.views import bp as portal_bp
    from lms.reports.views import bp as reports_bp
    from lms.reviews.views import bp as claims_bp

    api = (api_bp, api_catalog_bp, api_media_bp, api_learning_bp, api_exams_bp, api_claims_bp)
    api = (*api, api_reports_bp)
    pages = (ops_bp, auth_bp, portal_bp, catalog_bp, media_bp, learn_bp, exams_bp, claims_bp, reports_bp)
    for blueprint in (*pages, archive_bp, authoring_bp, reading_bp, admin_bp, *api):
        app.register_blueprint(blueprint)
    for blueprint in api:
        # Bearer tokens, or the session cookie with an X-CSRFToken header (checked in authenticate_bearer)
        csrf.exempt(blueprint)


def _connect_signals() -> None:
    import lms.exams.tasks
    import lms.media.tasks
    import lms.reports.tasks  # noqa: F401  (registers the report export tasks)
    from lms.discovery.signals import connect_signals
    from lms.exams.gates import register as register_exam_gates

    connect_signals()
    register_exam_gates()


def _register_cli(app: Flask) -> None:
    from lms.catalog.cli import catalog_cli
    from lms.cli import lms_cli
    from lms.discovery.cli import search_cli
    from lms.exams.cli import exams_cli
    from lms.reports.cli import reports_cli

    app.cli.add_command(lms_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(exams_cli)
    app.cli.add_command(reports_cli)
