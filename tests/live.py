"""Plumbing for tests that talk to a running app over real HTTP: a throwaway PostgreSQL database, the app
served on a free port, JSON calls with urllib, and requests released at the same instant."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from tests.service_guard import env, need_service


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new database on the test server (LMS_TEST_DATABASE_URL), dropped afterwards; skips locally and
    fails in CI (LMS_REQUIRE_SERVICES=1) without PostgreSQL."""
    url = env("LMS_TEST_DATABASE_URL") or ""
    need_service(
        "postgresql",
        available=url.startswith("postgresql"),
        why="LMS_TEST_DATABASE_URL is not a PostgreSQL URL",
    )
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin_engine.dispose()


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 in a thread (threaded, like gunicorn's gthread workers); yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def call_json(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, dict[str, Any]]:
    """(status, parsed body) of a JSON call; an error body that is not JSON comes back as {"raw": text}."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"} | headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            raw = error.read()
        finally:
            error.close()
        try:
            return error.code, json.loads(raw or b"{}")
        except ValueError:
            return error.code, {"raw": raw.decode(errors="replace")}


def race(count: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(0..count-1)`` on ``count`` threads released together by a barrier; results in order."""
    barrier = threading.Barrier(count)

    def go(n: int) -> Any:
        barrier.wait()
        return call(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))
