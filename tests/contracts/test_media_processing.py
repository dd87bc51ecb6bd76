"""The media pipeline on real services: MinIO (browser-direct parts, presigned segments), MinIO going
down mid-job, and a Celery worker killed mid-transcode (a real worker process, SIGKILLed)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lms.app import create_app
from lms.core.db import db, utcnow
from lms.media.models import AssetStatus, MediaAsset
from lms.media.processing import process_asset, sweep
from lms.media.storage import get_storage
from lms.media.tasks import processing_config
from media_pipeline import MinioStore, StorageUnavailable
from tests.conftest import RequestScopedClient, make_settings
from tests.factories import bearer, make_org, make_teacher
from tests.media_helpers import ffmpeg, upload_file
from tests.media_pipeline.conftest import remove_bucket
from tests.service_guard import env, need_service

ROOT = Path(__file__).resolve().parents[2]


def _minio_env() -> dict[str, str]:
    endpoint, access, secret = (env(f"LMS_MINIO_{n}") for n in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY"))
    need_service("minio", available=bool(endpoint and access and secret), why="set LMS_MINIO_*")
    return {
        "LMS_STORAGE_BACKEND": "minio",
        "LMS_MINIO_ENDPOINT": str(endpoint),
        "LMS_MINIO_ACCESS_KEY": str(access),
        "LMS_MINIO_SECRET_KEY": str(secret),
        "LMS_MINIO_BUCKET": f"lms-test-{secrets.token_hex(4)}",
    }


def _app(tmp_path: Path, **overrides: str) -> Flask:
    from flask_migrate import upgrade

    values = {"LMS_DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}", "LMS_MEDIA_PRESET": "ultrafast"}
    app = create_app(make_settings(tmp_path, **(values | overrides)))
    app.test_client_class = RequestScopedClient
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def minio_app(tmp_path: Path) -> Iterator[Flask]:
    settings = _minio_env()
    app = _app(tmp_path, **settings)
    with app.app_context():
        try:
            get_storage()
        except StorageUnavailable as error:
            need_service("minio", available=False, why=str(error))
    yield app
    with app.app_context():
        db.engine.dispose()
    _remove_bucket(app.extensions["lms.settings"])


def _remove_bucket(settings: Any) -> None:
    credentials = {
        "endpoint": settings.minio_endpoint,
        "access_key": settings.minio_access_key,
        "secret_key": settings.minio_secret_key,
    }
    remove_bucket(credentials, settings.minio_bucket)


def _teacher(app: Flask) -> dict[str, str]:
    with app.app_context():
        teacher = make_teacher(org=make_org(name="党校"))
        headers = bearer(teacher)
        db.session.commit()
    return headers


def test_parts_go_straight_to_minio_and_segments_come_straight_from_it(minio_app, media_files):
    headers = _teacher(minio_app)
    client = minio_app.test_client()
    started = client.post(
        "/api/v1/uploads",
        json={"filename": "a.mp4", "size": 10, "content_type": "video/mp4", "purpose": "video"},
        headers=headers,
    ).get_json()["upload"]
    target = client.post(
        f"/api/v1/uploads/{started['id']}/part-urls", json={"parts": [1]}, headers=headers
    ).get_json()["urls"]["1"]
    assert target["same_origin"] is False
    assert target["url"].startswith(f"http://{os.environ['LMS_MINIO_ENDPOINT']}/")
    client.delete(f"/api/v1/uploads/{started['id']}", headers=headers)

    done = upload_file(client, headers, media_files["video"], "video")
    assert done.status_code == 200, done.get_json()
    asset = client.get(f"/api/v1/media/{done.get_json()['asset']['id']}", headers=headers).get_json()["asset"]
    assert asset["status"] == "ready", asset
    master = client.get(asset["playlist_url"], headers=headers).get_data(as_text=True)
    variant_uri = next(line for line in master.splitlines() if line.endswith(".m3u8"))
    base = asset["playlist_url"].rsplit("/", 1)[0]
    variant = client.get(f"{base}/{variant_uri}", headers=headers).get_data(as_text=True)
    segments = [line for line in variant.splitlines() if line and not line.startswith("#")]
    assert segments and all("X-Amz-Signature=" in s for s in segments)
    with urllib.request.urlopen(segments[0], timeout=10) as response:  # MinIO itself, no app in between
        assert response.status == 200
        assert len(response.read()) > 100
    tampered = segments[0].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(tampered, timeout=10)
    assert denied.value.code == 403
    denied.value.close()


class _DownForWrites:
    """MinIO that goes down after the download: reads work, every write is refused (a dead port)."""

    def __init__(self, real: Any, dead: Any) -> None:
        self._real, self._dead = real, dead

    def __getattr__(self, name: str) -> Any:
        if name in ("upload_file", "put", "delete", "delete_prefix", "list"):
            return getattr(self._dead, name)
        return getattr(self._real, name)


def test_minio_down_mid_job_is_a_retryable_failure_and_a_retry_finishes(tmp_path, media_files):
    app = _app(tmp_path, **_minio_env(), LMS_CELERY_ALWAYS_EAGER="0")
    settings = app.extensions["lms.settings"]
    headers = _teacher(app)
    client = app.test_client()
    with app.app_context():
        try:
            real = get_storage()
        except StorageUnavailable as error:
            need_service("minio", available=False, why=str(error))
    done = upload_file(client, headers, media_files["video"], "video")
    asset_id = done.get_json()["asset"]["id"]
    dead = MinioStore("127.0.0.1:9", "x", "y", real.bucket, connect_timeout=0.5)
    with app.app_context():
        asset = db.session.get(MediaAsset, asset_id)
        outcome = process_asset(
            asset_id, asset.job_token, store=_DownForWrites(real, dead), config=processing_config(settings)
        )
        assert outcome == "failed"
        db.session.expire_all()
        asset = db.session.get(MediaAsset, asset_id)
        assert (asset.status, asset.error_code, asset.error_retryable) == (
            "failed",
            "storage_unavailable",
            True,
        )
        assert asset.output_prefix is None
    shown = client.get(f"/api/v1/media/{asset_id}", headers=headers).get_json()["asset"]
    assert "存储服务暂时不可用" in shown["error"]["message"]
    # The teacher presses 重试 (or the sweep does it); this time MinIO is up
    retried = client.post(f"/api/v1/media/{asset_id}/retry", headers=headers).get_json()["asset"]
    assert retried["status"] == "uploaded"
    with app.app_context():
        asset = db.session.get(MediaAsset, asset_id)
        assert (
            process_asset(asset_id, asset.job_token, store=real, config=processing_config(settings))
            == "ready"
        )
        asset = db.session.get(MediaAsset, asset_id)
        assert list(real.list(f"media/{asset_id}/"))
        assert all(o.key.startswith(asset.output_prefix) for o in real.list(f"media/{asset_id}/"))
    with app.app_context():
        db.engine.dispose()
    _remove_bucket(settings)


def _worker(env_vars: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "lms.worker", "worker", "--pool=solo", "--loglevel=info"],
            cwd=ROOT,
            env=env_vars,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(app: Flask, asset_id: int, done: Any, timeout: float) -> MediaAsset:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            asset = db.session.get(MediaAsset, asset_id)
            if done(asset):
                db.session.expunge(asset)
                return asset
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for asset {asset_id}")


def test_a_worker_killed_mid_transcode_is_recovered_and_the_asset_finishes(tmp_path):
    """The worker is SIGKILLed while ffmpeg runs; the sweep hands the asset to a new attempt, a new
    worker finishes it, and only the new attempt's output is published."""
    need_service("ffmpeg", available=subprocess.run(["which", "ffmpeg"], capture_output=True).returncode == 0)
    video = tmp_path / "long.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
        "-t", "40", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(video),
    )  # fmt: skip
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    overrides = {
        "LMS_CELERY_ALWAYS_EAGER": "0",
        "LMS_CELERY_BROKER_URL": broker,
        "LMS_MEDIA_PRESET": "veryfast",
    }
    app = _app(tmp_path, **overrides)
    headers = _teacher(app)
    done = upload_file(app.test_client(), headers, video, "video")
    asset_id = done.get_json()["asset"]["id"]
    settings = app.extensions["lms.settings"]
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")} | {
        "LMS_ENV": "test",
        "LMS_INSTANCE_DIR": str(tmp_path),
        "LMS_DATABASE_URL": settings.database_url,
        "LMS_CELERY_BROKER_URL": broker,
        "LMS_STORAGE_BACKEND": "local",
        "LMS_STORAGE_DIR": str(settings.storage_dir),
        "LMS_MEDIA_PRESET": "veryfast",
    }
    log = tmp_path / "worker.log"
    first = _worker(worker_env, log)
    try:
        running = _wait(app, asset_id, lambda a: a.status == AssetStatus.PROCESSING and a.progress >= 5, 90)
        old_token = running.job_token
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its ffmpeg, mid-transcode
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    with app.app_context():
        stuck = db.session.get(MediaAsset, asset_id)
        assert stuck.status == AssetStatus.PROCESSING and stuck.progress < 100
        counts = sweep(store=get_storage(), now=utcnow() + timedelta(minutes=11))
        assert counts["requeued"] == 1
    second = _worker(worker_env, log)
    try:
        finished = _wait(app, asset_id, lambda a: a.status in (AssetStatus.READY, AssetStatus.FAILED), 240)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait(10)
    assert finished.status == AssetStatus.READY, (
        finished.error_code,
        finished.error_detail,
        log.read_text()[-2000:],
    )
    assert finished.attempts == 2
    assert old_token not in (finished.output_prefix or "")
    with app.app_context():
        keys = [o.key for o in get_storage().list(f"media/{asset_id}/")]
        assert keys and all(k.startswith(finished.output_prefix) for k in keys)
        db.engine.dispose()
