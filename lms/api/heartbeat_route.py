"""The heartbeat's hot path: a WSGI route in front of Flask for ``POST /api/v1/playback/<id>/heartbeat``
with a bearer token (the phone apps; ~all of the platform's requests while cadres study).

Why outside Flask: at a heartbeat every 15 s per viewer this one endpoint is most of the traffic, and
Flask's request machinery plus SQLAlchemy's ORM session cost several times the heartbeat's own work
(benchmarks/heartbeats.py). Here a heartbeat is two SQL statements on a DBAPI connection of its own in
autocommit mode (``playback.receive_heartbeat_optimistic``: read, judge with the same rules, write
guarded by what was read) and a JSON answer built by the view's own ``heartbeat_json``.

It answers only the plain case, a 200 for a heartbeat that neither ends its session nor completes its
lesson, and only on PostgreSQL. Everything else — no bearer token, a bad token or body, an ended
session, a completed lesson (course hours), a concurrent change, a database error, SQLite — is handed,
untouched (nothing written, the body replayed), to the Flask view, which stays the one place that
authenticates, maps errors to HTTP and credits course hours.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine

from lms.api.learning import clock_of, heartbeat_json
from lms.core.db import db
from lms.core.errors import LmsError
from lms.core.http import api_headers
from lms.learning import playback

_log = logging.getLogger(__name__)

_PATH = re.compile(r"/api/v1/playback/([^/]{1,64})/heartbeat")
MAX_BODY = 64 * 1024  # a heartbeat is a few hundred bytes; 200 ranges fit easily

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class HeartbeatRoute:
    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.engines: Mapping[str | None, Any] | None = None
        self.connections: _Connections | None = None
        self.lock = threading.Lock()
        secure = bool(app.config["SESSION_COOKIE_SECURE"])
        self.headers = [("Content-Type", "application/json"), *api_headers(secure=secure)]
        self._encode = _encoder(app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or "-1")
        except ValueError:
            length = -1
        if scheme.lower() != "bearer" or content_type != "application/json" or not 0 < length <= MAX_BODY:
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        answer = self._answer(match.group(1), token.strip(), body)
        if answer is None:  # the usual path, with the body as it came
            environ["wsgi.input"] = io.BytesIO(body)
            return self.wsgi_app(environ, start_response)
        start_response("200 OK", [("Content-Length", str(len(answer))), *self.headers])
        return [answer]

    def _answer(self, public_id: str, token: str, body: bytes) -> bytes | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            hb = playback.parse_heartbeat(data)
        except LmsError:
            return None
        app = self.app
        bind = self._engines()[None]
        if bind.dialect.name != "postgresql":
            return None
        receive = functools.partial(
            playback.receive_heartbeat_optimistic,
            dialect=bind.dialect,
            token=token,
            public_id=public_id,
            hb=hb,
            settings=app.extensions["lms.settings"],
            now=clock_of(app),
        )
        if isinstance(bind, Engine):
            result = self._on_own_connection(bind, receive)
        else:  # the test suite's connection, inside the transaction it rolls back
            result = receive(bind.connection.driver_connection)
        if result is None:
            return None
        return (self._encode(heartbeat_json(result)) + "\n").encode()

    def _engines(self) -> Mapping[str | None, Any]:
        """The app's engines (Flask-SQLAlchemy's own mapping, so a test that swaps in its connection is
        seen), looked up once: pushing an app context per heartbeat costs more than the lookup."""
        if self.engines is None:
            with self.app.app_context():
                self.engines = db.engines
        return self.engines

    def _on_own_connection(
        self, engine: Engine, receive: Callable[[Any], playback.HeartbeatResult | None]
    ) -> playback.HeartbeatResult | None:
        connections = self._connections(engine)
        try:
            connection = connections.take()
        except Exception:  # the usual path gives the 503
            _log.warning("heartbeat route: no database connection", exc_info=True)
            return None
        try:
            result = receive(connection)
        except Exception:
            # Nothing is half-written (each statement is its own transaction); the usual path judges
            # afresh, and a heartbeat whose write did land is then refused as a replay, not credited twice.
            _log.warning("heartbeat route failed; the usual path answers", exc_info=True)
            if connection.closed or connection.broken:  # (as SQLAlchemy's pool on a disconnect)
                connections.close_idle()  # a restarted database dropped the idle ones too
            connections.discard(connection)
            return None
        connections.give(connection)
        return result

    def _connections(self, engine: Engine) -> _Connections:
        connections = self.connections
        if connections is None or connections.engine is not engine:
            with self.lock:  # (one set per engine, however many threads ask first)
                connections = self.connections
                if connections is None or connections.engine is not engine:
                    connections = self.connections = _Connections(engine)
        return connections


def _encoder(app: Flask) -> Callable[[Any], str]:
    """``app.json.dumps``; for Flask's own provider, its ``json.dumps`` call with the encoder made
    once (json.dumps makes one per call when given options)."""
    provider = app.json
    if type(provider) is not DefaultJSONProvider:
        return provider.dumps
    return json.JSONEncoder(
        default=provider.default, ensure_ascii=provider.ensure_ascii, sort_keys=provider.sort_keys
    ).encode


class _Connections:
    """The route's own connections, in autocommit mode, opened through the engine (its URL, connect
    arguments and events) and then kept out of its pool: taking one is a list pop, where a pool
    checkout and checkin (events, reset, bookkeeping) cost an eighth of a heartbeat's Python.

    At most as many as the worker's threads answer heartbeats at once, and ``keep`` (the pool's size)
    stay open when idle. One that fails is closed; the next heartbeat opens another. After a fork the
    parent's connections are forgotten, never used or closed. ``engine.dispose()`` closes the idle ones,
    and so does a connection found broken: a restarted database dropped them all."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        size = getattr(engine.pool, "size", None)
        self.keep = size() if callable(size) else 5
        self.pid = os.getpid()
        self.free: list[Any] = []
        event.listen(engine, "engine_disposed", self._disposed)

    def take(self) -> Any:
        if self.pid != os.getpid():
            self.pid, self.free = os.getpid(), []
        try:
            return self.free.pop()  # (atomic under the GIL, as append)
        except IndexError:
            pass
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        connection.autocommit = True
        return connection

    def give(self, connection: Any) -> None:
        if len(self.free) < self.keep and self.pid == os.getpid() and not connection.closed:
            self.free.append(connection)
        else:
            connection.close()

    @staticmethod
    def discard(connection: Any) -> None:
        try:
            connection.close()
        except Exception:  # already broken
            _log.debug("closing a failed connection", exc_info=True)

    def close_idle(self) -> None:
        free, self.free = self.free, []
        if self.pid == os.getpid():
            for connection in free:
                self.discard(connection)

    def _disposed(self, engine: Engine) -> None:
        self.close_idle()
