"""The media issue's "done when", end to end on real services and Debian's Chromium at 360×640.

A teacher uploads a 720p phone video (1280×720 frames with a 90° display matrix, as a phone records
portrait) through the /media/ page; its part goes straight to MinIO with a presigned PUT, and the
completing request processes it (eager Celery, ultrafast preset). The course with that lesson is
published through the catalog services (teacher01 writes, sf_admin approves, province-wide). A cadre
then signs in on a fresh phone-sized context and plays the lesson through hls.js: the app serves only
the (rewritten) playlists, every init and media segment comes from MinIO itself.

The live server here is its own (own SQLite file, seeded demo province, own MinIO bucket removed at
the end); the shared ``live_url`` server stays on the local store.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from flask import Flask

from lms.app import create_app
from lms.core.db import db
from tests.conftest import make_settings
from tests.live import serve
from tests.media_helpers import ffmpeg
from tests.media_pipeline.conftest import remove_bucket
from tests.service_guard import env, need_service

PHONE = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}
PASSWORD = "demo2026"
NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= document.documentElement.clientWidth"
WATCH_UPLOADER = """() => {
  window.__events = [];
  for (const name of ['lms:asset-uploaded', 'lms:asset-ready', 'lms:asset-failed']) {
    document.addEventListener(name, e => window.__events.push([name, e.detail]));
  }
}"""
UPLOAD_SETTLED = "() => window.__events.some(e => e[0] === 'lms:asset-ready' || e[0] === 'lms:asset-failed')"
PLAYING = """() => {
  const player = window.LmsPlayer && window.LmsPlayer.instances[0];
  return !!player && player.video.currentTime > 2;
}"""
PLAYER_FACTS = """() => {
  const player = window.LmsPlayer.instances[0];
  const video = player.video;
  const box = video.getBoundingClientRect();
  return {
    state: player.state(),
    currentTime: video.currentTime,
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    box: {left: box.left, right: box.right, width: box.width, height: box.height},
    viewport: document.documentElement.clientWidth,
    alert: player.el['alert-text'].textContent,
  };
}"""


@dataclass
class MediaServer:
    url: str
    app: Flask
    minio: str  # host:port of MinIO as the browser sees it


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    from flask_migrate import upgrade

    from lms.demo.seed import seed_demo
    from lms.media.storage import get_storage
    from media_pipeline import StorageUnavailable

    endpoint, access, secret = (env(f"LMS_MINIO_{n}") for n in ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY"))
    need_service("minio", available=bool(endpoint and access and secret), why="set LMS_MINIO_*")
    need_service("ffmpeg", available=shutil.which("ffmpeg") is not None, why="apt-get install ffmpeg")
    bucket = f"lms-test-{secrets.token_hex(4)}"
    credentials = {"endpoint": str(endpoint), "access_key": str(access), "secret_key": str(secret)}
    instance = tmp_path_factory.mktemp("e2e-media")
    app = create_app(
        make_settings(
            instance,
            LMS_DATABASE_URL=f"sqlite:///{instance / 'e2e.sqlite'}",
            LMS_STORAGE_BACKEND="minio",
            LMS_MINIO_ENDPOINT=str(endpoint),
            LMS_MINIO_ACCESS_KEY=str(access),
            LMS_MINIO_SECRET_KEY=str(secret),
            LMS_MINIO_BUCKET=bucket,
            LMS_CELERY_ALWAYS_EAGER="1",
            LMS_MEDIA_PRESET="ultrafast",
        )
    )
    with app.app_context():
        try:
            get_storage()  # makes the bucket
        except StorageUnavailable as error:
            db.engine.dispose()
            need_service("minio", available=False, why=str(error))
    try:
        with app.app_context():
            upgrade()
            seed_demo()
            db.session.commit()
        with serve(app) as base:
            yield MediaServer(base, app, str(endpoint))
    finally:
        with app.app_context():
            db.engine.dispose()
        remove_bucket(credentials, bucket)


def phone_video(directory: Path) -> Path:
    """8 s of 720p at 30 fps, H.264 + AAC, stored the way a phone stores portrait video: landscape
    1280×720 frames plus a display matrix turning them a quarter turn (shown as 720×1280)."""
    frames = directory / "frames.mp4"
    video = directory / "VID_20260315_093012.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "34", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", str(frames),
    )  # fmt: skip
    # ffmpeg 5 drops the tag when it encodes, so the matrix goes on in a remux (as the phone's muxer would)
    ffmpeg(
        "-i", str(frames), "-c", "copy", "-metadata:s:v:0", "rotate=90", "-movflags", "+faststart", str(video)
    )
    frames.unlink()
    return video


def sign_in(page: Any, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in urlparse(page.url).path, f"{login} did not sign in: {page.inner_text('main')}"


def publish_lesson(app: Flask, asset_id: int) -> int:
    """teacher01 writes a province-wide course with the video as its lesson, sf_admin approves it."""
    from sqlalchemy import select

    from lms.accounts.models import Organization, User
    from lms.catalog import services as catalog
    from lms.catalog.queries import active_lessons
    from lms.catalog.validation import clean_course_data

    with app.app_context():
        users = {
            u.login_name: u
            for u in db.session.scalars(select(User).where(User.login_name.in_(["teacher01", "sf_admin"])))
        }
        province = db.session.scalar(select(Organization).where(Organization.code == "SF"))
        assert province is not None
        data = clean_course_data(
            {
                "title": "手机竖屏视频端到端测试课",
                "lessons": [{"title": "第一讲 竖屏录制的课堂", "media_asset_id": asset_id}],
            }
        )
        course = catalog.create_course(
            actor=users["teacher01"], org=province, data=data, visibility_paths=[province.path]
        )
        catalog.submit_for_review(actor=users["teacher01"], course=course)
        catalog.approve(actor=users["sf_admin"], course=course)
        db.session.commit()
        (lesson,) = active_lessons(course.id)
        lesson_id = lesson.id
        db.session.remove()
    return int(lesson_id)


def upload_as_teacher(browser: Any, server: MediaServer, video: Path) -> dict[str, Any]:
    """teacher01 uploads the file on /media/ from a phone; returns the ready asset (the event's detail)."""
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        errors: list[str] = []
        puts: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        sign_in(page, server.url, "teacher01")
        page.goto(f"{server.url}/media/")
        page.evaluate(WATCH_UPLOADER)
        uploader = page.locator("#uploader-video")
        uploader.locator("input[data-role=file]").set_input_files(str(video))
        page.wait_for_function(UPLOAD_SETTLED, timeout=60_000, polling=200)
        events = page.evaluate("window.__events")
        names = [name for name, _ in events]
        assert names == ["lms:asset-uploaded", "lms:asset-ready"], (
            events,
            uploader.inner_text(),
            errors,
        )
        asset: dict[str, Any] = events[-1][1]
        link = uploader.locator("[data-role=asset-link]")
        assert link.is_visible() and link.get_attribute("href") == f"/media/{asset['id']}"
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "/media/ scrolls sideways at 360 px"
        assert errors == []
        # The bytes went browser -> MinIO with presigned PUTs; the app never saw a part
        assert puts, "no part was PUT"
        for url in puts:
            target = urlparse(url)
            assert target.netloc == server.minio, url
            assert "X-Amz-Signature=" in target.query and "partNumber=" in target.query, url
        return asset
    finally:
        context.close()


def play_as_cadre(browser: Any, server: MediaServer, lesson_id: int) -> None:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        errors: list[str] = []
        responses: list[tuple[str, int]] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: responses.append((r.url, r.status)))
        sign_in(page, server.url, "gb0001")
        lesson_url = f"{server.url}/learn/lessons/{lesson_id}"
        page.goto(lesson_url)
        assert page.url == lesson_url
        page.wait_for_function("() => window.LmsPlayer && window.LmsPlayer.instances.length === 1")
        start = page.locator("[data-player] [data-action=start]")
        timed = start.count() == 1 and start.is_visible()
        if timed:  # a timed lesson: the start button opens the playback session, then plays
            start.click()
        else:  # an untimed source plays as it is (muted: no autoplay policy in the way)
            page.evaluate(
                "() => { const v = window.LmsPlayer.instances[0].video; v.muted = true; return v.play(); }"
            )
        page.wait_for_function(PLAYING, timeout=30_000, polling=200)
        facts = page.evaluate(PLAYER_FACTS)
        assert facts["state"]["engine"] == "hls", facts
        assert facts["alert"] == "", facts
        assert bool(facts["state"]["sessionId"]) == timed, facts["state"]
        # The ladder stops at the source's short side, and the frames are portrait
        assert facts["state"]["levels"] == ["360p", "540p", "720p"], facts
        assert facts["videoHeight"] > facts["videoWidth"] > 0, facts
        # Fits the phone: nothing scrolls sideways, the video box stays inside the 360 px width
        assert facts["viewport"] == 360
        assert page.evaluate(NO_SIDEWAYS_SCROLL), "the lesson page scrolls sideways at 360 px"
        assert facts["box"]["left"] >= 0 and facts["box"]["right"] <= facts["viewport"], facts
        assert errors == []
        check_delivery(responses, server, lesson_id)
    finally:
        context.close()


def check_delivery(responses: list[tuple[str, int]], server: MediaServer, lesson_id: int) -> None:
    """Playlists from the app (the lesson's /hls/ route), init and media segments from MinIO only."""
    app_origin = urlparse(server.url).netloc
    playlists, inits, segments = [], [], []
    for url, status in responses:
        parsed = urlparse(url)
        path = parsed.path
        if path.endswith(".m3u8"):
            playlists.append((parsed.netloc, path, status))
        elif path.endswith(".m4s"):
            segments.append((parsed.netloc, path, status, parsed.query))
        elif "/media/" in path and path.rsplit("/", 1)[-1].startswith("init") and path.endswith(".mp4"):
            inits.append((parsed.netloc, path, status, parsed.query))
    assert playlists and segments and inits, responses
    hls_prefix = f"/learn/lessons/{lesson_id}/hls/"
    for netloc, path, status in playlists:
        assert (netloc, status) == (app_origin, 200) and path.startswith(hls_prefix), (netloc, path, status)
    assert any(path == f"{hls_prefix}master.m3u8" for _, path, _ in playlists)
    for netloc, path, status, query in inits + segments:
        assert netloc == server.minio and status in (200, 206), (netloc, path, status)
        assert "X-Amz-Signature=" in query, path
    app_served = [url for url, _ in responses if urlparse(url).netloc == app_origin]
    assert not [u for u in app_served if urlparse(u).path.endswith((".m4s", ".mp4"))], app_served


def test_a_teachers_phone_video_uploads_processes_and_plays_for_a_cadre_from_minio(
    browser: Any, media_server: MediaServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    video = phone_video(tmp_path)
    assert video.stat().st_size < 8 * 1024 * 1024  # one part (parts are at least 8 MiB)

    asset = upload_as_teacher(browser, media_server, video)
    assert asset["status"] == "ready" and asset["kind"] == "video", asset
    assert (asset["width"], asset["height"]) == (720, 1280), asset  # the display matrix is honoured
    assert asset["duration_s"] == 8, asset
    assert asset["renditions"], asset

    lesson_id = publish_lesson(media_server.app, asset["id"])
    play_as_cadre(browser, media_server, lesson_id)
    assert time.monotonic() - started < 90
