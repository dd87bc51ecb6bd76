"""Teachers' media pages (upload, status, preview), admin take-down, and object delivery."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context
from flask_babel import gettext
from flask_login import login_required

from lms.accounts.web import current_scope, session_or_bearer
from lms.core.db import db, utcnow
from lms.core.errors import LmsError, NotFound
from lms.core.i18n import N_
from lms.core.web import current_actor, error_text, page_args
from lms.media import queries, services
from lms.media.delivery import PLAYLIST_TYPE
from lms.media.models import AssetStatus, MediaAsset
from lms.media.storage import get_delivery, get_storage, media_limits
from media_pipeline import InvalidKey, InvalidRange, ObjectNotFound, StorageUnavailable, validate_key

bp = Blueprint("media", __name__, url_prefix="/media")

ERROR_MESSAGES = {
    "empty": N_("The file is empty (0 bytes)."),
    "not_media": N_("This is not a video or audio file we recognise (perhaps another file renamed)."),
    "unreadable": N_("The file cannot be read: it is damaged or was not uploaded completely."),
    "unsupported_format": N_("This file format is not supported. Use MP4, MOV, MKV/WebM, MP3, M4A or WAV."),
    "unsupported_codec": N_("The file uses an encoding we cannot process (%(codec)s)."),
    "no_video": N_("The file has no video picture. Upload it as an audio lesson instead."),
    "no_audio": N_("The file has no sound."),
    "too_long": N_("The recording is %(duration)s long; the limit is %(limit)s."),
    "too_short": N_("The recording is too short (at least 1 second)."),
    "too_large": N_("The picture is %(width)s×%(height)s pixels; the limit is %(limit)s pixels a side."),
    "probe_timeout": N_("Analysing the file took too long; it may be damaged."),
    "transcode_failed": N_("Transcoding failed: the file contains data that cannot be decoded."),
    "interrupted": N_("Processing was interrupted. It will be retried; you can also retry now."),
    "storage_unavailable": N_(
        "The media storage was unavailable. It will be retried; you can also retry now."
    ),
    "storage_error": N_("Storing the processed media failed. Please retry."),
}


def _minutes(seconds: object) -> str:
    try:
        total = int(float(str(seconds)))
    except ValueError:
        return str(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def asset_error_message(asset: MediaAsset) -> str:
    if not asset.error_code:
        return ""
    params = dict(asset.error_params or {})
    values = {
        "codec": params.get("codec") or params.get("video_codec") or params.get("audio_codec") or "?",
        "duration": _minutes(params.get("duration_s", "?")),
        "limit": _minutes(params["limit_s"]) if "limit_s" in params else params.get("limit", "?"),
        "width": params.get("width", "?"),
        "height": params.get("height", "?"),
    }
    return gettext(ERROR_MESSAGES.get(asset.error_code, N_("Processing failed.")), **values)


STATUS_LABELS = {
    AssetStatus.UPLOADED: N_("Waiting to be processed"),
    AssetStatus.PROCESSING: N_("Processing"),
    AssetStatus.READY: N_("Ready"),
    AssetStatus.FAILED: N_("Failed"),
    AssetStatus.TAKEN_DOWN: N_("Taken down"),
}


@bp.app_template_filter("asset_status")
def asset_status_label(status: str) -> str:
    return gettext(STATUS_LABELS.get(AssetStatus(status), status))


@bp.get("/")
@login_required
def my_media() -> str:
    actor = current_actor()
    scope = current_scope(actor)
    if not services.can_upload(actor):
        raise NotFound()
    mine = request.args.get("scope") != "units" or not scope.is_admin
    args = page_args()
    page = queries.list_assets(actor, scope, page=args.page, per_page=args.per_page, mine=mine)
    return render_template(
        "media/list.html",
        page=page,
        mine=mine,
        is_unit_admin=scope.is_admin,
        limits=media_limits(),
        human_size=services.human_size,
        used=services.used_bytes(actor.id),
    )


@bp.get("/<int:asset_id>")
@login_required
def asset_page(asset_id: int) -> str:
    actor = current_actor()
    asset, path = queries.get_manageable_asset(actor, asset_id)
    delivery = get_delivery()
    ready = asset.status == AssetStatus.READY
    poster = None
    if ready and (asset.poster_key or asset.kind == "image"):
        poster = delivery.object_url(asset.poster_key or asset.playlist_key or "", utcnow())
    return render_template(
        "media/asset.html",
        asset=asset,
        poster=poster,
        error_message=asset_error_message(asset),
        can_take_down=current_scope(actor).covers_path(path),
        refresh=asset.status in (AssetStatus.UPLOADED, AssetStatus.PROCESSING),
    )


def _form_action(asset_id: int, action: str) -> Response:
    actor = current_actor()
    asset, path = queries.get_manageable_asset(actor, asset_id)
    try:
        if action == "retry":
            services.retry_processing(actor=actor, asset=asset, org_path=path)
            message = N_("Processing was restarted.")
        elif action == "take_down":
            services.take_down(actor=actor, asset=asset, org_path=path, reason=request.form.get("reason", ""))
            message = N_("The media was taken down.")
        else:
            services.restore(actor=actor, asset=asset, org_path=path)
            message = N_("The media is available again.")
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(f"/media/{asset_id}")
    db.session.commit()
    flash(gettext(message), "success")
    return redirect(f"/media/{asset_id}")


@bp.post("/<int:asset_id>/retry")
@login_required
def retry(asset_id: int) -> Response:
    return _form_action(asset_id, "retry")


@bp.post("/<int:asset_id>/take-down")
@login_required
def take_down(asset_id: int) -> Response:
    return _form_action(asset_id, "take_down")


@bp.post("/<int:asset_id>/restore")
@login_required
def restore(asset_id: int) -> Response:
    return _form_action(asset_id, "restore")


def playlist_response(text: str) -> Response:
    response = Response(text, mimetype=PLAYLIST_TYPE)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def serve_playlist(asset: MediaAsset, path: str) -> Response:
    delivery = get_delivery()
    if path == "master.m3u8":
        return playlist_response(delivery.master_playlist(asset))
    return playlist_response(delivery.variant_playlist(asset, path, utcnow()))


@bp.get("/<int:asset_id>/hls/<path:path>")
@session_or_bearer
def preview_playlist(asset_id: int, path: str) -> Response:
    """A teacher's (or the owning org admin's) preview, before the asset is in any published course."""
    asset, _ = queries.get_manageable_asset(current_actor(), asset_id)
    return serve_playlist(asset, path)


@bp.get("/o/<path:key>")
def object(key: str) -> Response:
    """An object of the local store, by a signed expiring URL (what a presigned MinIO URL is elsewhere).
    Supports Range requests, as players and MinIO do."""
    delivery = get_delivery()
    try:
        validate_key(key)
    except InvalidKey:
        abort(404)
    if not delivery.signer.verify(key, request.args.get("e", ""), request.args.get("s", ""), utcnow()):
        abort(403)
    store = get_storage()
    try:
        info = store.stat(key)
        byte_range = request.range
        if byte_range is not None and byte_range.units == "bytes" and len(byte_range.ranges) == 1:
            bounds = byte_range.range_for_length(info.size)
            if bounds is None:
                response = Response(status=416)
                response.headers["Content-Range"] = f"bytes */{info.size}"
                return response
            start, stop = bounds
            body = store.read_range(key, start, stop - 1)
            response = Response(body, status=206, mimetype=info.content_type)
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
        else:
            stream = store.open(key)

            def chunks():  # type: ignore[no-untyped-def]
                with stream:
                    while block := stream.read(256 * 1024):
                        yield block

            response = Response(stream_with_context(chunks()), mimetype=info.content_type)
            response.headers["Content-Length"] = str(info.size)
    except ObjectNotFound:
        abort(404)
    except InvalidRange:
        response = Response(status=416)
        response.headers["Content-Range"] = f"bytes */{info.size}"
        return response
    except StorageUnavailable:
        abort(503)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["ETag"] = f'"{info.etag}"'
    return response
