"""Learners' lesson pages and the playlists behind them (only for lessons the learner may see)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from lms.accounts.permissions import AdminScope
from lms.accounts.web import current_scope, session_or_bearer
from lms.catalog import queries as catalog_queries
from lms.core.db import db, utcnow
from lms.core.errors import LmsError, NotFound
from lms.core.i18n import N_
from lms.core.web import current_actor, error_text, page_args
from lms.learning import credits, enrollment, evidence
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


@bp.get("/my-courses")
@login_required
def my_courses() -> str:
    status = request.args.get("status", "all")
    if status not in ("all", "in_progress", "completed"):
        status = "all"
    args = page_args()
    page = enrollment.my_courses(current_actor(), status=status, page=args.page, per_page=args.per_page)
    return render_template("learning/my_courses.html", page=page, status=status)


def _course_action(course_id: int, action: str) -> Response:
    actor = current_actor()
    course = catalog_queries.get_published_course(actor, course_id)
    try:
        if action == "enroll":
            enrollment.enroll(actor=actor, course=course)
            message = N_("Added to my courses.")
        elif action == "drop":
            enrollment.drop(actor=actor, course=course)
            message = N_("Removed from my courses; your progress is kept.")
        else:
            try:
                stars = int(request.form.get("stars", ""))
            except ValueError:
                stars = 0
            enrollment.rate_studied_course(
                actor=actor, course=course, stars=stars, comment=request.form.get("comment", "")
            )
            message = N_("Thank you for your rating.")
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(url_for("catalog.course", course_id=course_id))
    db.session.commit()
    flash(gettext(message), "success")
    return redirect(url_for("catalog.course", course_id=course_id))


@bp.post("/courses/<int:course_id>/enroll")
@login_required
def enroll(course_id: int) -> Response:
    return _course_action(course_id, "enroll")


@bp.post("/courses/<int:course_id>/drop")
@login_required
def drop(course_id: int) -> Response:
    return _course_action(course_id, "drop")


@bp.post("/courses/<int:course_id>/rating")
@login_required
def rate(course_id: int) -> Response:
    return _course_action(course_id, "rate")


# ----------------------------------------------------------------------------------------------------
# Admins: the review queue and a cadre's evidence


def _admin_scope() -> AdminScope:
    scope = current_scope(current_actor())
    if not scope.is_admin:
        raise NotFound()
    return scope


@bp.get("/admin/review")
@login_required
def review_queue() -> str:
    scope = _admin_scope()
    try:
        days = min(366, max(1, int(request.args.get("days", "30"))))
    except ValueError:
        days = 30
    suspects = evidence.suspicious_learners(scope, since=utcnow() - timedelta(days=days))
    labels = {
        "many_rejected": gettext("many rejected reports"),
        "rejected_share": gettext("high share rejected"),
        "presence_checks_failed": gettext("presence checks failed"),
        "many_parallel_playbacks": gettext("many parallel playbacks"),
    }
    return render_template("learning/review.html", suspects=suspects, days=days, flag_labels=labels)


@bp.get("/admin/users/<int:user_id>")
@login_required
def cadre_evidence(user_id: int) -> str:
    scope = _admin_scope()
    user = evidence.get_cadre(scope, user_id)
    args = page_args()
    return render_template(
        "learning/cadre.html",
        cadre=user,
        credits=evidence.credits_of(user),
        sessions=evidence.sessions_of(user, page=args.page, per_page=args.per_page),
    )


@bp.get("/admin/sessions/<session_id>")
@login_required
def session_evidence(session_id: str) -> str:
    session, rows = evidence.heartbeats_of(_admin_scope(), session_id)
    return render_template("learning/session.html", session=session, rows=rows)


@bp.post("/admin/ledger/<int:entry_id>")
@login_required
def adjust_credit(entry_id: int) -> Response:
    actor = current_actor()
    entry, owner = credits.get_entry_for_admin(actor, entry_id)
    try:
        if request.form.get("action") == "revoke":
            credits.revoke_entry(
                actor=actor, entry=entry, owner=owner, reason=request.form.get("reason", ""), now=utcnow()
            )
        else:
            credits.correct_entry(
                actor=actor,
                entry=entry,
                owner=owner,
                delta=request.form.get("hours", ""),
                reason=request.form.get("reason", ""),
                now=utcnow(),
            )
    except LmsError as error:
        db.session.rollback()
        flash(error_text(error), "error")
        return redirect(url_for("learn.cadre_evidence", user_id=owner.id))
    db.session.commit()
    flash(gettext("The credit was adjusted; the change is recorded with your reason."), "success")
    return redirect(url_for("learn.cadre_evidence", user_id=owner.id))
