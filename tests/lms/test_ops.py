from __future__ import annotations

import socket

from tests.conftest import make_settings


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_each_embedded_service(client):
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "object_store", "search", "task_queue"}
    assert all(check["ok"] for check in body["checks"].values())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_readyz_names_the_failing_service_and_why(tmp_path):
    from lms.app import create_app

    port = _closed_port()
    settings = make_settings(
        tmp_path,
        LMS_STORAGE_BACKEND="minio",
        LMS_MINIO_ENDPOINT=f"127.0.0.1:{port}",
        LMS_MINIO_ACCESS_KEY="x",
        LMS_MINIO_SECRET_KEY="y",
        LMS_SEARCH_BACKEND="elasticsearch",
        LMS_ELASTICSEARCH_URL=f"http://127.0.0.1:{port}",
        LMS_CELERY_ALWAYS_EAGER="0",
        LMS_CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0",
        LMS_DATABASE_URL=f"sqlite:///{tmp_path / 'ready.sqlite'}",
    )
    app = create_app(settings)
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    for name in ("object_store", "search", "task_queue"):
        assert body["checks"][name]["ok"] is False and body["checks"][name]["error"], name
    assert body["checks"]["object_store"]["backend"] == "minio"


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_pages_are_404_in_chinese_html_and_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "找不到该内容" in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code in (401, 404)
