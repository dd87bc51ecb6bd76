"""Uploads, processing and delivery through HTTP, on the embedded store (the app serves the parts and
the segments). The same protocol against a real MinIO is in tests/contracts/test_media_minio.py."""

from __future__ import annotations

import re

import pytest

from lms.accounts.models import Role
from lms.catalog import services as catalog
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.media.models import MediaAsset
from tests.factories import bearer, csrf_token, grant, login, make_admin, make_org, make_teacher, make_user
from tests.media_helpers import upload_file


@pytest.fixture(autouse=True)
def _empty_store(app):  # type: ignore[no-untyped-def]
    """Asset ids restart with each rolled-back test; the session's local store is emptied to match."""
    from lms.media.storage import get_storage

    with app.app_context():
        store = get_storage()
        for prefix in ("media/", "uploads/"):
            store.delete_prefix(prefix)
    app.extensions.pop("lms.delivery", None)  # and its playlist cache


@pytest.fixture
def org():  # type: ignore[no-untyped-def]
    return make_org(name="党校")


@pytest.fixture
def teacher(org):  # type: ignore[no-untyped-def]
    return make_teacher(org=org)


def _asset(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return response.get_json()["asset"]


def test_a_teachers_lecture_is_uploaded_processed_and_previewed(client, teacher, media_files):
    headers = bearer(teacher)
    asset = _asset(upload_file(client, headers, media_files["video"], "video", filename="第一讲.mp4"))
    # Processing ran (eagerly in tests) once the upload committed
    asset = client.get(f"/api/v1/media/{asset['id']}", headers=headers).get_json()["asset"]
    assert asset["status"] == "ready", asset
    assert asset["title"] == "第一讲"
    assert asset["duration_s"] == 4
    assert asset["renditions"] == ["360p"]  # a 360p source is not upscaled
    assert asset["poster_url"]
    row = db.session.get(MediaAsset, asset["id"])
    assert row.sprite_key and row.sprite["interval_s"] > 0 and row.sprite["count"] >= 1  # scrub thumbnails
    master = client.get(asset["playlist_url"], headers=headers)
    assert master.status_code == 200
    assert master.mimetype == "application/vnd.apple.mpegurl"
    assert master.headers["Cache-Control"] == "private, no-store"
    variant_uri = next(line for line in master.get_data(as_text=True).splitlines() if line.endswith(".m3u8"))
    base = asset["playlist_url"].rsplit("/", 1)[0]
    variant = client.get(f"{base}/{variant_uri}", headers=headers).get_data(as_text=True)
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', variant)
    assert init and init.group(1).startswith("/media/o/")
    segments = [line for line in variant.splitlines() if line and not line.startswith("#")]
    assert segments and all(s.startswith("/media/o/media/") and "&s=" in s for s in segments)
    # The signed object URL needs no session; Range works as players expect
    anonymous = client.application.test_client()
    whole = anonymous.get(segments[0])
    assert whole.status_code == 200 and len(whole.data) > 100
    part = anonymous.get(segments[0], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert part.data == whole.data[:100]
    assert part.headers["Content-Range"].endswith(f"/{len(whole.data)}")
    # A tampered signature is refused
    assert anonymous.get(segments[0][:-2] + "xx").status_code == 403


def test_portrait_phone_video_keeps_portrait_renditions(client, teacher, media_files):
    headers = bearer(teacher)
    asset = _asset(upload_file(client, headers, media_files["portrait"], "video"))
    asset = client.get(f"/api/v1/media/{asset['id']}", headers=headers).get_json()["asset"]
    assert asset["status"] == "ready", asset
    assert asset["width"] < asset["height"]


def test_audio_lesson_and_cover_image(client, teacher, media_files):
    headers = bearer(teacher)
    audio = _asset(upload_file(client, headers, media_files["audio"], "audio"))
    audio = client.get(f"/api/v1/media/{audio['id']}", headers=headers).get_json()["asset"]
    assert audio["status"] == "ready" and audio["kind"] == "audio"
    assert client.get(audio["playlist_url"], headers=headers).status_code == 200
    cover = _asset(upload_file(client, headers, media_files["cover"], "cover"))
    cover = client.get(f"/api/v1/media/{cover['id']}", headers=headers).get_json()["asset"]
    assert cover["status"] == "ready" and cover["poster_url"]


@pytest.mark.parametrize(
    ("name", "purpose", "code", "message"),
    [
        ("renamed_pdf", "video", "not_media", "不是可识别的视频或音频文件"),
        ("truncated", "video", None, "损坏"),
        ("audio", "video", "no_video", "没有视频画面"),
    ],
)
def test_bad_files_fail_with_a_clear_reason_and_nothing_published(
    client, teacher, media_files, name, purpose, code, message
):
    headers = bearer(teacher)
    filename = media_files[name].name if name != "audio" else "talk.mp4"
    asset = _asset(upload_file(client, headers, media_files[name], purpose, filename=filename))
    asset = client.get(f"/api/v1/media/{asset['id']}", headers=headers).get_json()["asset"]
    assert asset["status"] == "failed"
    if code:
        assert asset["error"]["code"] == code
    assert message in asset["error"]["message"], asset["error"]
    assert asset["playlist_url"] is None
    row = db.session.get(MediaAsset, asset["id"])
    assert row.output_prefix is None
    storage = client.application.extensions["lms.storage"]
    assert list(storage.list(f"media/{asset['id']}/")) == []  # no orphan output objects
    assert client.get(f"/media/{asset['id']}/hls/master.m3u8", headers=headers).status_code in (404, 409)


def test_size_limit_quota_and_file_type_are_enforced_with_the_amounts(client, teacher, app, monkeypatch):
    headers = bearer(teacher)

    def start(size: int, name: str = "lecture.mp4", purpose: str = "video"):  # type: ignore[no-untyped-def]
        return client.post(
            "/api/v1/uploads",
            json={"filename": name, "size": size, "content_type": "video/mp4", "purpose": purpose},
            headers=headers,
        )

    too_big = start(9 * 1024**3)
    assert too_big.status_code == 422
    assert too_big.get_json()["error"] == "file_too_large"
    assert "9.0 GB" in too_big.get_json()["message"] and "8.0 GB" in too_big.get_json()["message"]
    assert "1.0 GB" in too_big.get_json()["message"]  # by how much
    assert start(11 * 1024 * 1024, "cover.png", "cover").get_json()["error"] == "file_too_large"
    assert start(1000, "notes.pdf").get_json()["error"] == "unsupported_file"
    assert start(0).status_code == 422
    # The quota counts originals already stored and uploads in progress
    for _ in range(6):
        assert start(8 * 1024**3).status_code == 201
    over = start(8 * 1024**3)
    assert over.status_code == 422
    body = over.get_json()
    assert body["error"] == "quota_exceeded"
    assert "50.0 GB" in body["message"] and "48.0 GB" in body["message"] and "6.0 GB" in body["message"]


def test_only_teachers_and_admins_upload(client, org):
    cadre = make_user(org=org)
    response = client.post(
        "/api/v1/uploads",
        json={"filename": "a.mp4", "size": 10, "content_type": "video/mp4", "purpose": "video"},
        headers=bearer(cadre),
    )
    assert response.status_code == 403


def test_resuming_lists_received_parts_and_completion_needs_every_part(client, teacher, tmp_path):
    headers = bearer(teacher)
    big = tmp_path / "long.mp4"
    big.write_bytes(b"\0" * (8 * 1024 * 1024) * 2 + b"tail")  # three parts of 8 MiB
    incomplete = upload_file(client, headers, big, "video", skip_parts=(2,))
    assert incomplete.status_code == 422
    assert incomplete.get_json()["error"] == "upload_incomplete"
    assert "1" in incomplete.get_json()["message"]
    open_uploads = client.get("/api/v1/uploads", headers=headers).get_json()["items"]
    assert [u["filename"] for u in open_uploads] == ["long.mp4"]
    upload = client.get(f"/api/v1/uploads/{open_uploads[0]['id']}", headers=headers).get_json()["upload"]
    assert [p["number"] for p in upload["parts"]] == [1, 3]
    assert upload["part_count"] == 3
    # Another teacher cannot see or touch it
    other = bearer(make_teacher(org=teacher.org))
    assert client.get(f"/api/v1/uploads/{upload['id']}", headers=other).status_code == 404
    # Cancelling closes it
    assert client.delete(f"/api/v1/uploads/{upload['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/uploads", headers=headers).get_json()["items"] == []


def test_a_part_of_the_wrong_size_is_refused(client, teacher, tmp_path):
    headers = bearer(teacher)
    started = client.post(
        "/api/v1/uploads",
        json={"filename": "x.mp4", "size": 100, "content_type": "video/mp4", "purpose": "video"},
        headers=headers,
    ).get_json()["upload"]
    response = client.put(
        f"/api/v1/uploads/{started['id']}/parts/1",
        data=b"x" * 99,
        headers=headers | {"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 422


def test_the_upload_widget_uses_the_session_with_the_csrf_token(client, teacher, media_files):
    login(client, teacher)
    token = csrf_token(client, "/media/")
    without = client.post("/api/v1/uploads", json={"filename": "a.mp4", "size": 5, "purpose": "video"})
    assert without.status_code == 400
    response = upload_file(client, {"X-CSRFToken": token}, media_files["video"], "video")
    assert response.status_code == 200
    page = client.get(f"/media/{response.get_json()['asset']['id']}")
    assert page.status_code == 200
    assert "master.m3u8" in page.get_data(as_text=True)


def test_preview_is_for_the_owner_and_the_owning_orgs_admins_only(client, teacher, org, media_files):
    asset = _asset(upload_file(client, bearer(teacher), media_files["video"], "video"))
    url = f"/api/v1/media/{asset['id']}"
    other_org = make_org()
    assert client.get(url, headers=bearer(make_teacher(org=org))).status_code == 404
    assert client.get(url, headers=bearer(make_admin(of=other_org))).status_code == 404
    assert client.get(url, headers=bearer(make_admin(of=org))).status_code == 200
    cadre = make_user(org=org)
    assert client.get(f"/media/{asset['id']}/hls/master.m3u8", headers=bearer(cadre)).status_code == 404


def _published_course(teacher, admin, asset_id, org):  # type: ignore[no-untyped-def]
    data = clean_course_data(
        {"title": "学习贯彻党的二十大精神", "lessons": [{"title": "第一讲", "media_asset_id": asset_id}]}
    )
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=admin, course=course)
    db.session.commit()
    return course


def test_learners_who_may_see_the_course_get_the_playlists_and_a_take_down_stops_them(
    client, teacher, org, media_files
):
    admin = make_admin(of=org)
    asset = _asset(upload_file(client, bearer(teacher), media_files["video"], "video"))
    course = _published_course(teacher, admin, asset["id"], org)
    lesson = course.published_revision.lessons[0]
    assert lesson["duration_s"] == 4  # ffprobe's duration, not what the author typed
    from lms.catalog.queries import active_lessons

    (row,) = active_lessons(course.id)
    learner = make_user(org=make_org(parent=org))
    outsider = make_user(org=make_org())
    login(client, learner)
    page = client.get(f"/learn/lessons/{row.id}")
    assert page.status_code == 200
    assert f"/learn/lessons/{row.id}/hls/master.m3u8" in page.get_data(as_text=True)
    assert client.get(f"/learn/lessons/{row.id}/hls/master.m3u8").status_code == 200
    other = client.application.test_client()
    login(other, outsider)
    assert other.get(f"/learn/lessons/{row.id}").status_code == 404
    assert other.get(f"/learn/lessons/{row.id}/hls/master.m3u8").status_code == 404
    # An admin of the owning org takes it down: audited, and nothing is served any more
    taken = client.post(
        f"/api/v1/media/{asset['id']}/take-down", json={"reason": "内容有误"}, headers=bearer(admin)
    )
    assert taken.status_code == 200 and taken.get_json()["asset"]["status"] == "taken_down"
    assert client.get(f"/learn/lessons/{row.id}/hls/master.m3u8").status_code == 409
    from lms.audit.models import AuditEntry

    assert db.session.query(AuditEntry).filter_by(action="media.take_down").count() == 1
    # The teacher cannot take it down or restore it; the admin restores it
    assert client.post(f"/api/v1/media/{asset['id']}/restore", headers=bearer(teacher)).status_code == 403
    restored = client.post(f"/api/v1/media/{asset['id']}/restore", headers=bearer(admin))
    assert restored.get_json()["asset"]["status"] == "ready"


def test_a_course_cannot_use_someone_elses_media_or_publish_unready_media(client, teacher, org, media_files):
    asset = _asset(upload_file(client, bearer(teacher), media_files["video"], "video"))
    stranger = make_teacher(org=org)
    data = clean_course_data({"title": "课程", "lessons": [{"title": "一", "media_asset_id": asset["id"]}]})
    from lms.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        catalog.create_course(actor=stranger, org=org, data=data)
    grant(stranger, Role.TEACHER)
    row = db.session.get(MediaAsset, asset["id"])
    row.status = "processing"
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    from lms.catalog.errors import LessonMediaNotReady

    with pytest.raises(LessonMediaNotReady):
        catalog.approve(actor=make_admin(of=org), course=course)


def test_a_course_shows_its_cover_image(client, teacher, org, media_files):
    cover = _asset(upload_file(client, bearer(teacher), media_files["cover"], "cover"))
    video = _asset(upload_file(client, bearer(teacher), media_files["video"], "video"))
    from lms.core.errors import ValidationFailed

    lessons = [{"title": "第一讲", "media_asset_id": video["id"]}]
    with pytest.raises(ValidationFailed):  # a video is not a cover
        catalog.create_course(
            actor=teacher,
            org=org,
            data=clean_course_data({"title": "课程", "cover_asset_id": video["id"], "lessons": lessons}),
        )
    data = clean_course_data({"title": "有封面的课程", "cover_asset_id": cover["id"], "lessons": lessons})
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=make_admin(of=org), course=course)
    db.session.commit()
    login(client, make_user(org=org))
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    image = re.search(r'<img class="cover" src="([^"]+)"', page)
    assert image and "/media/o/media/" in image.group(1)
    assert client.application.test_client().get(image.group(1).replace("&amp;", "&")).mimetype == "image/jpeg"
