"""``/api/v1/uploads`` and ``/api/v1/media``: resumable direct uploads and the assets they become.

Called by the platform's own upload widget (session cookie + CSRF header) and by API clients (bearer).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_babel import gettext

from lms.accounts.web import current_scope
from lms.api.v1 import authenticate_bearer
from lms.core.db import db, utcnow
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.core.web import current_actor, json_body, page_args
from lms.media import queries, services
from lms.media.errors import UploadNotFoundError, UploadSizeMismatch
from lms.media.models import MediaAsset, MediaUpload
from lms.media.storage import get_delivery, get_storage, media_limits
from lms.media.views import asset_error_message

bp = Blueprint("api_media", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_bearer)


def upload_json(upload: MediaUpload, parts: list[tuple[int, str, int]] | None = None) -> dict[str, Any]:
    return {
        "id": upload.id,
        "filename": upload.filename,
        "size": upload.size,
        "purpose": {"image": "cover"}.get(str(upload.kind), str(upload.kind)),
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "status": str(upload.status),
        "parts": [{"number": n, "etag": etag, "size": size} for n, etag, size in (parts or [])],
        "created_at": upload.created_at.isoformat(),
        "asset_id": upload.asset_id,
    }


def asset_json(asset: MediaAsset) -> dict[str, Any]:
    delivery = get_delivery()
    now = utcnow()
    poster = asset.poster_key or (asset.playlist_key if str(asset.kind) == "image" else None)
    ready = str(asset.status) == "ready"
    return {
        "id": asset.id,
        "kind": str(asset.kind),
        "title": asset.title,
        "status": str(asset.status),
        "progress": asset.progress,
        "duration_s": round(asset.duration_s) if asset.duration_s is not None else None,
        "width": asset.width,
        "height": asset.height,
        "renditions": asset.renditions,
        "error": (
            {
                "code": asset.error_code,
                "message": asset_error_message(asset),
                "retryable": asset.error_retryable,
            }
            if asset.error_code
            else None
        ),
        "poster_url": delivery.object_url(poster, now) if ready and poster else None,
        "playlist_url": (
            url_for("media.preview_playlist", asset_id=asset.id, path="master.m3u8")
            if ready and str(asset.kind) != "image"
            else None
        ),
        "page_url": url_for("media.asset_page", asset_id=asset.id),
        "created_at": asset.created_at.isoformat(),
    }


@bp.post("/uploads")
def start_upload() -> tuple[Response, int]:
    data = json_body()
    upload = services.start_upload(
        actor=current_actor(),
        store=get_storage(),
        limits=media_limits(),
        filename=data.get("filename"),
        size=data.get("size"),
        content_type=data.get("content_type"),
        purpose=data.get("purpose"),
    )
    db.session.commit()
    return jsonify(upload=upload_json(upload)), 201


@bp.get("/uploads")
def list_uploads() -> Response:
    return jsonify(items=[upload_json(u) for u in queries.open_uploads(current_actor())])


@bp.get("/uploads/<int:upload_id>")
def get_upload(upload_id: int) -> Response:
    upload = queries.get_upload(current_actor(), upload_id)
    return jsonify(upload=upload_json(upload, services.stored_parts(upload, get_storage())))


@bp.post("/uploads/<int:upload_id>/part-urls")
def part_urls(upload_id: int) -> Response:
    actor = current_actor()
    upload = queries.get_upload(actor, upload_id)
    targets = services.part_targets(
        actor=actor,
        upload=upload,
        store=get_storage(),
        numbers=json_body().get("parts"),
        ttl=media_limits().url_ttl,
    )
    urls = {
        str(n): (
            {"url": url, "same_origin": False}
            if url
            else {"url": url_for("api_media.put_part", upload_id=upload.id, number=n), "same_origin": True}
        )
        for n, url in targets.items()
    }
    return jsonify(urls=urls)


@bp.put("/uploads/<int:upload_id>/parts/<int:number>")
def put_part(upload_id: int, number: int) -> Response:
    """The local store's stand-in for a presigned part URL (the same protocol, served by the app)."""
    actor = current_actor()
    upload = queries.get_upload(actor, upload_id)
    length = request.content_length
    if length is None:
        raise ValidationFailed(N_("The part's size (Content-Length) is required."))
    part_number, etag, size = services.receive_part(
        actor=actor, upload=upload, store=get_storage(), number=number, data=request.stream, length=length
    )
    response = jsonify(part={"number": part_number, "etag": etag, "size": size})
    response.headers["ETag"] = f'"{etag}"'
    return response


@bp.post("/uploads/<int:upload_id>/complete")
def complete_upload(upload_id: int) -> Response:
    actor = current_actor()
    upload = queries.get_upload(actor, upload_id)
    data = json_body()
    try:
        asset = services.complete_upload(
            actor=actor, upload=upload, store=get_storage(), parts=data.get("parts"), title=data.get("title")
        )
    except UploadSizeMismatch:
        db.session.commit()  # the upload is closed: its object was the wrong size and is gone
        raise
    db.session.commit()
    return jsonify(upload=upload_json(upload), asset=asset_json(asset))


@bp.delete("/uploads/<int:upload_id>")
def abort_upload(upload_id: int) -> tuple[str, int]:
    actor = current_actor()
    try:
        upload = queries.get_upload(actor, upload_id)
    except UploadNotFoundError:
        return "", 204
    if str(upload.status) == "uploading":
        services.abort_upload(actor=actor, upload=upload, store=get_storage())
        db.session.commit()
    return "", 204


@bp.get("/media")
def list_media() -> Response:
    actor = current_actor()
    args = page_args()
    page = queries.list_assets(actor, current_scope(actor), page=args.page, per_page=args.per_page)
    return jsonify(
        items=[asset_json(a) for a in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )


@bp.get("/media/<int:asset_id>")
def get_media(asset_id: int) -> Response:
    asset, _ = queries.get_manageable_asset(current_actor(), asset_id)
    return jsonify(asset=asset_json(asset))


@bp.post("/media/<int:asset_id>/retry")
def retry_media(asset_id: int) -> Response:
    actor = current_actor()
    asset, path = queries.get_manageable_asset(actor, asset_id)
    services.retry_processing(actor=actor, asset=asset, org_path=path)
    db.session.commit()
    return jsonify(asset=asset_json(asset))


@bp.post("/media/<int:asset_id>/take-down")
def take_down_media(asset_id: int) -> Response:
    actor = current_actor()
    asset, path = queries.get_manageable_asset(actor, asset_id)
    services.take_down(actor=actor, asset=asset, org_path=path, reason=str(json_body().get("reason") or ""))
    db.session.commit()
    return jsonify(asset=asset_json(asset), message=gettext("The media was taken down."))


@bp.post("/media/<int:asset_id>/restore")
def restore_media(asset_id: int) -> Response:
    actor = current_actor()
    asset, path = queries.get_manageable_asset(actor, asset_id)
    services.restore(actor=actor, asset=asset, org_path=path)
    db.session.commit()
    return jsonify(asset=asset_json(asset))
