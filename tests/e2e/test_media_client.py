"""The upload widget and the HLS player in Debian's Chromium at 360×640, against a fake API.

The harness is the rendered macros (media/_uploader.html, media/_player.html) plus lms/static,
served through Playwright routes at a made-up origin with the app's Content-Security-Policy. The
API is a Python fake behind page.route, coded to the uploads / media / playback contract; a second
origin stands in for presigned object-store URLs. The HLS stream (two renditions, fMP4) is made
with ffmpeg once per session.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import shutil
import subprocess
import traceback
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape

from lms.core.http import CONTENT_SECURITY_POLICY
from tests.service_guard import need_service

REPO = Path(__file__).resolve().parents[2]
ORIGIN = "http://lms.test"
STORE = "http://minio.test:9000"  # presigned part URLs: another origin
CSRF = "csrf-test-token"
KB = 1024

NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= document.documentElement.clientWidth"
SMALL_TARGETS = """() => [...document.querySelectorAll('button, .button, input, select')]
  .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
  .map(e => e.outerHTML.slice(0, 80))"""
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '')));
window.__events = [];
for (const name of ['lms:asset-uploaded', 'lms:asset-ready', 'lms:asset-failed', 'lms:lesson-completed',
                    'lms:playback-halted']) {
  document.addEventListener(name, e => window.__events.push([name, e.detail]));
}
"""

PAGES = {
    "upload.html": """
{{ uploader("video", "video/*", 50 * 1024 * 1024, "上传课程视频") }}
{{ uploader("cover", "image/*", 100 * 1024, "上传封面图片") }}
""",
    "lesson.html": """
{{ player(None, duration_s=20, playback_url="/api/v1/lessons/12/playback", title="第一课 测试视频") }}
""",
    "preview.html": """
{{ player("/stream/master.m3u8", resume_s=0, duration_s=20, title="教师预览") }}
""",
}
LAYOUT = """{% from "media/_uploader.html" import uploader, uploader_head, uploader_scripts %}
{%- from "media/_player.html" import player, player_head, player_scripts -%}
<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
  <title>媒体测试</title>
  <meta name="csrf-token" content="{{ csrf }}">
  <link rel="stylesheet" href="{{ url_for('static', filename='css/app.css') }}">
  {{ uploader_head() }}
</head>
<body>
<main class="page"><div class="card">
CONTENT
</div></main>
{{ uploader_scripts() }}
{{ player_scripts(with_api=False) }}
</body>
</html>
"""
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
}


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def hls_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_service(
        "ffmpeg", available=shutil.which("ffmpeg") is not None, why="the ffmpeg CLI is not installed"
    )
    out = tmp_path_factory.mktemp("hls")
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "20",
        "-filter_complex", "[0:v]split=2[hi][lo0];[lo0]scale=426:240[lo]",
        "-map", "[hi]", "-map", "[lo]", "-map", "1:a", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
        "-b:v:0", "600k", "-b:v:1", "250k", "-c:a", "aac", "-b:a", "64k", "-ac", "1",
        "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
        "-var_stream_map", "v:0,a:0 v:1,a:1", "-master_pl_name", "master.m3u8",
        "-hls_segment_filename", "v%v/seg%d.m4s", "v%v/index.m3u8",
    ]  # fmt: skip
    subprocess.run(command, cwd=out, check=True, capture_output=True, timeout=180)
    assert (out / "master.m3u8").is_file()
    return out


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory, hls_stream: Path) -> Path:
    dist = REPO / "lms/static/dist/hls.min.js"
    if not dist.is_file():
        need_service("npm", available=shutil.which("npm") is not None, why="npm builds lms/static/dist")
        subprocess.run(["bash", str(REPO / "scripts/build_static.sh")], check=True, timeout=600)
    root = tmp_path_factory.mktemp("harness")
    shutil.copytree(REPO / "lms/static", root / "static")
    shutil.copytree(hls_stream, root / "stream")
    env = Environment(loader=FileSystemLoader(REPO / "lms/templates"), autoescape=select_autoescape())
    env.globals.update(url_for=lambda endpoint, filename: f"/static/{filename}", _=lambda s, **kw: s % kw)
    for name, content in PAGES.items():
        html = env.from_string(LAYOUT.replace("CONTENT", content)).render(csrf=CSRF)
        (root / name).write_text(html, encoding="utf-8")
    return root


class Site:
    """The harness origin: static files with the app's CSP, and everything a page logs."""

    def __init__(self, page: Any, root: Path) -> None:
        self.page = page
        self.root = root
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: Counter[str] = Counter()
        self.forbid_once: set[str] = set()  # paths answered 403 once (an expired presigned segment)
        page.add_init_script(WATCH_CSP)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.route(f"{ORIGIN}/**", self.serve)

    def serve(self, route: Any) -> None:
        path = urlparse(route.request.url).path
        self.requests[path] += 1
        if path in self.forbid_once:
            self.forbid_once.discard(path)
            route.fulfill(status=403, body="expired")
            return
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root) or not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        route.fulfill(
            status=200,
            body=file.read_bytes(),
            headers={
                "Content-Type": CONTENT_TYPES.get(file.suffix, "application/octet-stream"),
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
            },
        )

    def open(self, name: str) -> None:
        self.page.goto(f"{ORIGIN}/{name}")

    def check(self) -> None:
        """No CSP violation, no script error, nothing wider than the phone, no small targets."""
        csp = self.page.evaluate("window.__csp")
        logged = [m for m in self.console if "Content Security Policy" in m or "Content-Security-Policy" in m]
        assert csp == [] and logged == [], (csp, logged)
        assert self.errors == []
        assert self.page.evaluate(NO_SIDEWAYS_SCROLL), "scrolls sideways"
        assert self.page.evaluate(SMALL_TARGETS) == []

    def wait(self, condition: Any, timeout_ms: int = 15000, what: str = "") -> None:
        """Waits for a Python-side condition while Playwright keeps serving routes."""
        for _ in range(timeout_ms // 50):
            if condition():
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"timed out waiting for {what or condition}")


@pytest.fixture
def site(phone: Any, harness: Path) -> Site:
    return Site(phone, harness)


# ------------------------------------------------------------------------------------- fake API
def json_reply(route: Any, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
    if data is None:
        route.fulfill(status=status, body="")
    else:
        route.fulfill(
            status=status,
            body=json.dumps(data, ensure_ascii=False),
            headers={"Content-Type": "application/json"} | (headers or {}),
        )


class FakeUploads:
    """/api/v1/uploads and /api/v1/media, and the object store behind presigned URLs."""

    def __init__(self, page: Any, *, part_size: int, same_origin: bool) -> None:
        self.part_size = part_size
        self.same_origin = same_origin
        self.uploads: dict[int, dict[str, Any]] = {}
        self.data: dict[tuple[int, int], bytes] = {}
        self.deliveries: Counter[tuple[int, int]] = Counter()  # successful part PUTs
        self.attempts: Counter[tuple[int, int]] = Counter()
        self.part_url_requests: list[list[int]] = []
        self.completes: list[list[dict[str, Any]]] = []
        self.deleted: list[int] = []
        self.store_headers: list[dict[str, str]] = []
        self.drop_once: set[int] = set()  # part numbers whose first PUT loses its connection
        self.drop_always: set[int] = set()
        self.expire_once: set[int] = set()  # presigned URL answered 403 once
        self.quota_left: int | None = None
        self.asset_states: list[dict[str, Any]] = [
            {"status": "processing", "progress": 40},
            {"status": "ready"},
        ]
        self.asset_polls = 0
        self.retries = 0
        self.problems: list[str] = []
        self.signatures = 0
        page.route(f"{ORIGIN}/api/v1/uploads**", self.handle)
        page.route(f"{ORIGIN}/api/v1/media/**", self.handle)
        page.route(f"{STORE}/**", self.handle_store)

    # -- model
    def add_upload(self, filename: str, size: int, purpose: str = "video") -> dict[str, Any]:
        upload_id = len(self.uploads) + 1
        self.uploads[upload_id] = {
            "id": upload_id,
            "filename": filename,
            "size": size,
            "purpose": purpose,
            "part_size": self.part_size,
            "part_count": max(1, math.ceil(size / self.part_size)),
            "status": "uploading",
            "parts": {},
            "created_at": "2026-03-01T08:00:00+08:00",
        }
        return self.uploads[upload_id]

    def upload_json(self, upload_id: int) -> dict[str, Any]:
        u = self.uploads[upload_id]
        return u | {"parts": [u["parts"][n] for n in sorted(u["parts"])]}

    def asset(self) -> dict[str, Any]:
        state = self.asset_states[min(self.asset_polls, len(self.asset_states) - 1)]
        return {
            "id": 77,
            "kind": "video",
            "title": "课程视频",
            "progress": state.get("progress", 100 if state["status"] == "ready" else 0),
            "duration_s": 20 if state["status"] == "ready" else None,
            "error": state.get("error"),
            "poster_url": None,
            "page_url": "/media/77",
            "created_at": "2026-03-01T08:00:00+08:00",
        } | {"status": state["status"]}

    def part_size_of(self, upload: dict[str, Any], n: int) -> int:
        if n < upload["part_count"]:
            return upload["part_size"]
        return upload["size"] - upload["part_size"] * (upload["part_count"] - 1)

    def receive(self, route: Any, upload_id: int, n: int) -> dict[str, Any] | None:
        """Common part PUT handling; returns the stored part or None when the route was answered."""
        self.attempts[(upload_id, n)] += 1
        if n in self.drop_always or n in self.drop_once:
            self.drop_once.discard(n)
            route.abort("connectionreset")
            return None
        body = route.request.post_data_buffer or b""
        upload = self.uploads[upload_id]
        if len(body) != self.part_size_of(upload, n):
            self.problems.append(f"part {n}: {len(body)} bytes")
        etag = hashlib.md5(body).hexdigest()  # noqa: S324 - an S3-style ETag, not security
        part = {"number": n, "size": len(body), "etag": etag}
        upload["parts"][n] = part
        self.data[(upload_id, n)] = body
        self.deliveries[(upload_id, n)] += 1
        return part

    # -- routes
    def handle(self, route: Any) -> None:
        try:
            self.dispatch(route)
        except Exception:
            self.problems.append(traceback.format_exc())
            json_reply(route, 500, {"error": "test_bug", "message": "测试桩出错"})

    def dispatch(self, route: Any) -> None:
        request = route.request
        method, path = request.method, urlparse(request.url).path
        if method != "GET" and request.headers.get("x-csrftoken") != CSRF:
            self.problems.append(f"{method} {path} without the CSRF header")
        body = json.loads(request.post_data) if method == "POST" and request.post_data else {}
        if m := re.fullmatch(r"/api/v1/uploads/(\d+)/parts/(\d+)", path):
            upload_id, n = int(m[1]), int(m[2])
            if part := self.receive(route, upload_id, n):
                json_reply(route, 200, {"part": part}, {"ETag": f'"{part["etag"]}"'})
            return
        if path == "/api/v1/uploads" and method == "POST":
            if self.quota_left is not None and body["size"] > self.quota_left:
                message = "上传空间不足：本月还可上传 1 KB，所选文件需要 200 KB。"
                json_reply(route, 422, {"error": "quota_exceeded", "message": message, "fields": {}})
                return
            upload = self.add_upload(body["filename"], body["size"], body["purpose"])
            json_reply(route, 201, {"upload": self.upload_json(upload["id"])})
            return
        if path == "/api/v1/uploads" and method == "GET":
            items = [self.upload_json(i) for i, u in self.uploads.items() if u["status"] == "uploading"]
            json_reply(route, 200, {"items": items})
            return
        if m := re.fullmatch(r"/api/v1/uploads/(\d+)", path):
            upload_id = int(m[1])
            if method == "DELETE":
                self.deleted.append(upload_id)
                self.uploads[upload_id]["status"] = "aborted"
                json_reply(route, 204)
            else:
                json_reply(route, 200, {"upload": self.upload_json(upload_id)})
            return
        if m := re.fullmatch(r"/api/v1/uploads/(\d+)/part-urls", path):
            upload_id = int(m[1])
            numbers = body["parts"]
            assert len(numbers) <= 50
            self.part_url_requests.append(numbers)
            urls = {}
            for n in numbers:
                self.signatures += 1
                if self.same_origin:
                    urls[str(n)] = {"url": f"/api/v1/uploads/{upload_id}/parts/{n}", "same_origin": True}
                else:
                    url = f"{STORE}/lms/uploads/{upload_id}/{n}?X-Amz-Signature=s{self.signatures}"
                    urls[str(n)] = {"url": url, "same_origin": False}
            json_reply(route, 200, {"urls": urls})
            return
        if m := re.fullmatch(r"/api/v1/uploads/(\d+)/complete", path):
            upload_id = int(m[1])
            self.completes.append(body["parts"])
            upload = self.uploads[upload_id]
            expected = [{"number": n, "etag": upload["parts"][n]["etag"]} for n in sorted(upload["parts"])]
            if body["parts"] != expected or len(expected) != upload["part_count"]:
                self.problems.append(f"complete: {body['parts']} != {expected}")
            upload["status"] = "completed"
            json_reply(route, 200, {"upload": self.upload_json(upload_id), "asset": self.asset()})
            return
        if path == "/api/v1/media/77" and method == "GET":
            self.asset_polls += 1
            json_reply(route, 200, {"asset": self.asset()})
            return
        if path == "/api/v1/media/77/retry":
            self.retries += 1
            self.asset_states = [{"status": "processing", "progress": 10}, {"status": "ready"}]
            self.asset_polls = 0
            json_reply(route, 200, {"asset": self.asset()})
            return
        self.problems.append(f"unexpected {method} {path}")
        json_reply(route, 404, {"error": "not_found", "message": "不存在"})

    def handle_store(self, route: Any) -> None:
        try:
            request = route.request
            headers = request.headers
            self.store_headers.append(dict(headers))
            m = re.fullmatch(r"/lms/uploads/(\d+)/(\d+)", urlparse(request.url).path)
            assert m and request.method == "PUT", request.url
            upload_id, n = int(m[1]), int(m[2])
            cors = {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Expose-Headers": "ETag"}
            if n in self.expire_once:
                self.expire_once.discard(n)
                self.attempts[(upload_id, n)] += 1
                route.fulfill(status=403, body="<Error><Code>AccessDenied</Code></Error>", headers=cors)
                return
            if part := self.receive(route, upload_id, n):
                route.fulfill(status=200, body="", headers=cors | {"ETag": f'"{part["etag"]}"'})
        except Exception:
            self.problems.append(traceback.format_exc())
            route.fulfill(status=500, body="")


class FakePlayback:
    """POST /api/v1/lessons/12/playback and /api/v1/playback/<session>/heartbeat."""

    DURATION = 20.0

    def __init__(self, page: Any, *, interval: int = 1, resume: float = 6) -> None:
        self.interval = interval
        self.resume = resume
        self.starts = 0
        self.beats: list[dict[str, Any]] = []  # {"session", "body", "status"}
        self.covered: list[list[float]] = []
        self.challenge_next = False
        self.conflict_next: str | None = None
        self.complete = False
        self.problems: list[str] = []
        page.route(f"{ORIGIN}/api/v1/lessons/12/playback", self.start)
        page.route(f"{ORIGIN}/api/v1/playback/**", self.heartbeat)

    def start(self, route: Any) -> None:
        if route.request.headers.get("x-csrftoken") != CSRF:
            self.problems.append("playback start without the CSRF header")
        self.starts += 1
        json_reply(
            route,
            200,
            {
                "session_id": f"s{self.starts}",
                "heartbeat_interval_s": self.interval,
                "resume_position_s": self.resume,
                "duration_s": self.DURATION,
                "playlist_url": "/stream/master.m3u8",
            },
        )

    def heartbeat(self, route: Any) -> None:
        request = route.request
        m = re.fullmatch(r"/api/v1/playback/([^/]+)/heartbeat", urlparse(request.url).path)
        if not m or request.method != "POST" or request.headers.get("x-csrftoken") != CSRF:
            self.problems.append(f"bad heartbeat {request.method} {request.url}")
        body = json.loads(request.post_data)
        beat = {"session": m[1] if m else None, "body": body, "status": 200}
        self.beats.append(beat)
        if self.conflict_next:
            beat["status"] = 409
            code, self.conflict_next = self.conflict_next, None
            message = "您已在另一台设备上学习本课，这里的计时已停止。"
            json_reply(route, 409, {"error": code, "message": message})
            return
        merged = sorted(self.covered + [list(r) for r in body["ranges"]])
        self.covered = []
        for start, end in merged:
            if self.covered and start <= self.covered[-1][1]:
                self.covered[-1][1] = max(self.covered[-1][1], end)
            else:
                self.covered.append([start, end])
        covered = sum(end - start for start, end in self.covered)
        challenge = None
        if self.challenge_next:
            self.challenge_next = False
            challenge = {
                "id": "c1",
                "prompt": "本课讲的是哪一项？",
                "options": ["第一项", "第二项"],
                "expires_in_s": 60,
            }
        response = {
            "accepted_s": sum(end - start for start, end in body["ranges"]),
            "lesson": {
                "covered_s": covered,
                "duration_s": self.DURATION,
                "percent": 100 if self.complete else round(covered / self.DURATION * 100),
                "completed": self.complete,
            },
            "challenge": challenge,
        }
        json_reply(route, 200, response)

    def bodies(self, session: str) -> list[dict[str, Any]]:
        return [b["body"] for b in self.beats if b["session"] == session]


IN_FLIGHT = "() => LmsPlayer.instances[0].state().inFlight"


def video_time(page: Any) -> float:
    return float(page.evaluate("document.querySelector('[data-player] video').currentTime"))


def wait_until_time(page: Any, seconds: float, timeout_ms: int = 15000) -> None:
    # A function, not an expression string: the page's CSP has no 'unsafe-eval'.
    script = "t => document.querySelector('[data-player] video').currentTime > t"
    page.wait_for_function(script, arg=seconds, timeout=timeout_ms)


def events(page: Any) -> list[str]:
    return [name for name, _ in page.evaluate("window.__events")]


# ------------------------------------------------------------------------------------- uploads
def test_upload_survives_a_dropped_part_then_shows_processing_and_ready(site: Site, tmp_path: Path) -> None:
    page = site.page
    api = FakeUploads(page, part_size=256 * KB, same_origin=True)
    api.drop_once = {2}
    payload = os.urandom(5 * 256 * KB + 1234)
    file = tmp_path / "第一课.mp4"
    file.write_bytes(payload)
    site.open("upload.html")
    widget = page.locator("#uploader-video")
    assert widget.locator("[data-role=resumables]").is_hidden()
    site.check()

    widget.locator("input[type=file]").set_input_files(str(file))
    status = widget.locator("[data-role=status]")
    status.filter(has_text="正在处理 40%").wait_for(timeout=15000)
    link = widget.locator("[data-role=asset-link]")
    link.wait_for(state="visible", timeout=10000)
    assert link.get_attribute("href") == "/media/77"
    assert "处理完成" in status.inner_text()

    # Six parts, the dropped one sent again, each delivered exactly once, bytes in order.
    assert api.attempts[(1, 2)] == 2
    assert sorted(api.deliveries.items()) == [((1, n), 1) for n in range(1, 7)]
    assert b"".join(api.data[(1, n)] for n in range(1, 7)) == payload
    assert len(api.completes) == 1 and [p["number"] for p in api.completes[0]] == list(range(1, 7))
    assert events(page) == ["lms:asset-uploaded", "lms:asset-ready"]
    assert page.evaluate("localStorage.getItem('lms.uploads.v1')") == "{}"
    assert page.evaluate("LmsUploader.formatSpeed(2.1 * 1024 * 1024)") == "2.1 MB/秒"
    assert page.evaluate("LmsUploader.formatDuration(200)") == "3 分 20 秒"
    assert api.problems == []
    site.check()


def test_presigned_upload_resumes_after_reload_with_only_the_missing_parts(
    site: Site, tmp_path: Path
) -> None:
    page = site.page
    api = FakeUploads(page, part_size=256 * KB, same_origin=False)
    api.drop_always = {3, 4, 5}
    payload = os.urandom(4 * 256 * KB + 999)
    file = tmp_path / "lecture.mp4"
    file.write_bytes(payload)
    site.open("upload.html")
    widget = page.locator("#uploader-video")
    widget.locator("input[type=file]").set_input_files(str(file))
    site.wait(lambda: api.deliveries[(1, 1)] and api.deliveries[(1, 2)], what="parts 1 and 2")

    page.reload()  # the tab is closed mid-upload and opened again
    resumable = widget.locator("[data-role=resumables] li")
    resumable.wait_for(timeout=10000)
    percent = 2 * 256 * KB * 100 // len(payload)
    assert f"继续上传 lecture.mp4（已完成 {percent}%）：请重新选择该文件" in resumable.inner_text()

    api.drop_always = set()
    api.expire_once = {4}
    asked_before = len(api.part_url_requests)
    widget.locator("input[type=file]").set_input_files(str(file))
    widget.locator("[data-role=asset-link]").wait_for(state="visible", timeout=15000)

    assert sorted(api.deliveries.items()) == [((1, n), 1) for n in range(1, 6)]
    assert b"".join(api.data[(1, n)] for n in range(1, 6)) == payload
    after = api.part_url_requests[asked_before:]
    assert after[0] == [3, 4, 5]  # only the missing parts
    assert [4] in after[1:]  # the expired URL was signed again
    assert all("x-csrftoken" not in h and "cookie" not in h for h in api.store_headers)
    assert api.deleted == []
    assert page.evaluate("localStorage.getItem('lms.uploads.v1')") == "{}"
    assert resumable.count() == 0
    assert api.problems == []
    site.check()


def test_upload_messages_cancel_discard_and_processing_retry(site: Site, tmp_path: Path) -> None:
    page = site.page
    api = FakeUploads(page, part_size=64 * KB, same_origin=True)
    api.add_upload("旧视频.mp4", 300 * KB)["parts"][1] = {"number": 1, "size": 64 * KB, "etag": "e1"}
    small = tmp_path / "cover.jpg"
    small.write_bytes(os.urandom(200 * KB))
    site.open("upload.html")
    video, cover = page.locator("#uploader-video"), page.locator("#uploader-cover")

    # An unfinished upload from before is offered, and can be given up.
    item = video.locator("[data-role=resumables] li")
    item.wait_for(timeout=10000)
    assert "继续上传 旧视频.mp4（已完成 21%）" in item.inner_text()
    assert cover.locator("[data-role=resumables]").is_hidden()  # other purpose
    site.check()
    item.get_by_role("button", name="放弃").click()
    item.wait_for(state="detached", timeout=5000)
    assert api.deleted == [1]

    # Too big for the cover widget: said at once, nothing sent.
    cover.locator("input[type=file]").set_input_files(str(small))
    assert "文件太大" in cover.locator("[data-role=error]").inner_text()
    assert len(api.uploads) == 1

    # The server's own refusal is shown as it is.
    api.quota_left = 1024
    video.locator("input[type=file]").set_input_files(str(small))
    error = video.locator("[data-role=error]")
    error.filter(has_text="上传空间不足").wait_for(timeout=5000)
    assert error.inner_text() == "上传空间不足：本月还可上传 1 KB，所选文件需要 200 KB。"

    # Cancel while parts keep failing.
    api.quota_left = None
    api.drop_always = {1, 2, 3, 4}
    video.locator("input[type=file]").set_input_files(str(small))
    site.wait(lambda: api.attempts[(2, 1)] >= 1, what="a first attempt")
    video.get_by_role("button", name="取消上传").click()
    video.locator("[data-role=status]").filter(has_text="已取消上传").wait_for(timeout=5000)
    assert api.deleted == [1, 2]
    assert page.evaluate("localStorage.getItem('lms.uploads.v1')") == "{}"

    # Processing fails: the reason and 重试; the retry ends ready.
    api.drop_always = set()
    api.asset_states = [{"status": "failed", "error": {"code": "bad_media", "message": "无法识别视频编码。"}}]
    video.locator("input[type=file]").set_input_files(str(small))
    error.filter(has_text="无法识别视频编码").wait_for(timeout=10000)
    video.get_by_role("button", name="重试").click()
    video.locator("[data-role=asset-link]").wait_for(state="visible", timeout=10000)
    assert api.retries == 1
    assert events(page) == ["lms:asset-uploaded", "lms:asset-failed", "lms:asset-ready"]
    assert api.problems == []
    site.check()


# ------------------------------------------------------------------------------------- player
def test_timed_playback_reports_ranges_answers_a_challenge_and_restarts_after_409(site: Site) -> None:
    page = site.page
    api = FakePlayback(page, interval=1, resume=6)
    site.open("lesson.html")
    player = page.locator("[data-player]")
    site.check()
    player.get_by_role("button", name="开始学习").click()

    notice = player.locator("[data-role=notice]")
    notice.filter(has_text="已从上次位置 00:06 继续").wait_for(timeout=15000)
    wait_until_time(page, 8.5)
    state = page.evaluate("LmsPlayer.instances[0].state()")
    assert state["engine"] == "hls" and state["sessionId"] == "s1"
    options = player.locator("select[data-role=quality] option").all_inner_texts()
    assert options[1:] == ["240p", "360p"] and options[0].startswith("自动")
    player.locator("select[data-role=quality]").select_option(label="240p")
    page.wait_for_function("() => LmsPlayer.instances[0].hls.currentLevel === 0", timeout=5000)
    assert page.evaluate("LmsPlayer.instances[0].hls.autoLevelEnabled") is False
    lesson_text = player.locator("[data-role=lesson-text]")
    lesson_text.filter(has_text="本课已学").wait_for(timeout=5000)
    assert re.fullmatch(r"本课已学 \d+%（已计入 \d+ 秒）", lesson_text.inner_text())

    # An attention check: the video pauses, a dialog asks, the answer goes in the next heartbeat.
    api.challenge_next = True
    dialog = player.locator("dialog[data-role=challenge]")
    dialog.wait_for(state="visible", timeout=5000)
    assert page.evaluate("document.querySelector('[data-player] video').paused")
    assert "本课讲的是哪一项？" in dialog.inner_text() and "秒内作答" in dialog.inner_text()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    paused_at = video_time(page)
    dialog.get_by_role("button", name="第二项").click()
    site.wait(lambda: any("challenge_answer" in b for b in api.bodies("s1")), what="the answer")
    answer = next(b["challenge_answer"] for b in api.bodies("s1") if "challenge_answer" in b)
    assert answer == {"id": "c1", "answer": "第二项"}
    assert dialog.is_hidden()
    wait_until_time(page, paused_at + 1)

    # Honest reports: seq 1, 2, 3 ... and the reported ranges add up to what was played.
    beats = len(api.beats)
    page.evaluate("() => document.querySelector('[data-player] video').pause()")  # reports at once
    site.wait(lambda: len(api.beats) > beats and not page.evaluate(IN_FLIGHT), what="the pause heartbeat")
    bodies = api.bodies("s1")
    assert [b["seq"] for b in bodies] == list(range(1, len(bodies) + 1)) and len(bodies) >= 4
    reported = [r for b in bodies for r in b["ranges"]]
    total = sum(end - start for start, end in reported)
    played = page.evaluate("LmsPlayer.instances[0].state().playedSeconds")
    assert abs(total - played) < 0.2, (total, played)
    assert reported[0][0] == pytest.approx(6, abs=0.3)  # from the resume position
    assert total == pytest.approx(video_time(page) - 6, abs=0.5)
    assert all(b["rate"] == 1 and b["visible"] is True for b in bodies)
    for earlier, later in itertools.pairwise(reported):
        assert later[0] >= earlier[1] - 0.01  # never the same seconds twice
    page.evaluate("() => document.querySelector('[data-player] video').play()")

    # Another device took over: stop, say so, and only the learner restarts the clock.
    api.conflict_next = "playback_superseded"
    alert = player.locator("[data-role=alert]")
    alert.wait_for(state="visible", timeout=5000)
    assert "另一台设备" in alert.inner_text()
    assert page.evaluate("document.querySelector('[data-player] video').paused")
    beats = len(api.beats)
    page.wait_for_timeout(1500)
    assert len(api.beats) == beats and api.starts == 1  # no loop
    api.complete = True
    alert.get_by_role("button", name="重新开始计时").click()
    site.wait(lambda: len(api.bodies("s2")) >= 1, what="a heartbeat of the new session")
    assert api.starts == 2 and api.bodies("s2")[0]["seq"] == 1
    player.locator("[data-role=completed]").wait_for(state="visible", timeout=5000)
    assert alert.is_hidden()
    assert events(page) == ["lms:playback-halted", "lms:lesson-completed"]
    assert api.problems == []
    site.check()


def test_preview_plays_untimed_and_recovers_from_an_expired_segment(site: Site) -> None:
    page = site.page
    site.forbid_once = {"/stream/v0/seg2.m4s", "/stream/v1/seg2.m4s"}
    site.open("preview.html")
    page.locator("[data-player] select[data-role=quality]").wait_for(state="visible", timeout=15000)
    page.evaluate("(() => { const v = document.querySelector('[data-player] video'); v.muted = true;"
                  " v.playbackRate = 2; v.play(); })()")  # fmt: skip
    wait_until_time(page, 7, timeout_ms=20000)
    assert site.requests["/stream/master.m3u8"] >= 2  # the playlist was fetched again
    state = page.evaluate("LmsPlayer.instances[0].state()")
    assert state["engine"] == "hls" and state["sessionId"] is None and state["log"] == []
    assert state["playedSeconds"] > 6  # played ranges survive the reload
    frame = page.locator(".player-frame").bounding_box()
    assert frame and frame["width"] / frame["height"] == pytest.approx(16 / 9, rel=0.02)
    site.check()

    page.set_viewport_size({"width": 640, "height": 360})  # the phone on its side
    frame = page.locator(".player-frame").bounding_box()
    assert frame and frame["height"] <= 360 and frame["width"] <= 640
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
