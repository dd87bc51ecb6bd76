"""Learners' lesson pages and the playlists behind them (only for lessons the learner may see)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for
from flask_login import login_required

from lms.accounts.web import session_or_bearer
from lms.catalog import queries as catalog_queries
from lms.core.db import utcnow
from lms.core.web import current_actor
from lms.media import queries as media_queries
from lms.media.errors import AssetNotReady
from lms.media.models import AssetStatus, MediaAsset
from lms.media.storage import get_delivery
from lms.media.views import serve_playlist

bp = Blueprint("learn", __name__, url_prefix="/learn")


def _playable(lesson_id: int) -> tuple[object, object, MediaAsset]:
    lesson, course = catalog_queries.get_visible_lesson(current_actor(), lesson_id)
    asset = media_queries.find_asset(lesson.media_asset_id) if lesson.media_asset_id else None
    if asset is None or asset.status != AssetStatus.READY:
        raise AssetNotReady()
    return lesson, course, asset


@bp.get("/lessons/<int:lesson_id>")
@login_required
def lesson(lesson_id: int) -> str:
    found, course, asset = _playable(lesson_id)
    lessons = catalog_queries.active_lessons(course.id)  # type: ignore[attr-defined]
    poster = get_delivery().object_url(asset.poster_key, utcnow()) if asset.poster_key else None
    return render_template(
        "learning/lesson.html",
        lesson=found,
        course=course,
        revision=course.current,  # type: ignore[attr-defined]
        lessons=lessons,
        asset=asset,
        poster=poster,
        playback_url=url_for("api_learning.start_playback", lesson_id=found.id),  # type: ignore[attr-defined]
    )


@bp.get("/lessons/<int:lesson_id>/hls/<path:path>")
@session_or_bearer
def playlist(lesson_id: int, path: str) -> Response:
    _, _, asset = _playable(lesson_id)
    return serve_playlist(asset, path)
