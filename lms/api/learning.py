"""Playback sessions and heartbeats (the web player and phone apps), a learner's hours, targets, and
admins' ledger corrections. The server's clock is the only one that counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, url_for
from flask_babel import gettext

from lms.accounts.web import current_scope
from lms.api.v1 import authenticate_bearer, deferred_bearer, require_bearer
from lms.catalog import queries as catalog_queries
from lms.core.db import db
from lms.core.errors import InvalidState, LmsError, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.web import client_ip, current_actor, json_body, page_args
from lms.learning import credits, enrollment, evidence, playback, targets
from lms.learning.credits import year_of
from lms.learning.models import TargetRule
from lms.learning.summary import learner_year, learner_year_json
from lms.media import queries as media_queries
from lms.media.errors import AssetNotReady
from lms.media.models import AssetStatus
from lms.settings import Settings

bp = Blueprint("api_learning", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_bearer)

END_MESSAGES = {
    "superseded": N_(
        "Playback started in another tab or device, so timing here has stopped. "
        "Only one lesson counts at a time."
    ),
    "expired": N_(
        "No progress was reported for too long, so this playback ended. Start again to keep counting."
    ),
    "challenge_failed": N_(
        "The presence check was not answered in time, so timing stopped. Start again to go on."
    ),
    "ended": N_("This playback has ended."),
}


def clock() -> float:
    """Seconds since the epoch; tests replace ``lms.clock`` to control time."""
    return clock_of(current_app)


def clock_of(app: Flask) -> float:
    """``clock()`` outside a request context (the heartbeat route)."""
    return float(app.extensions.get("lms.clock", time.time)())


def _settings() -> Settings:
    return current_app.extensions["lms.settings"]  # type: ignore[no-any-return]


@bp.post("/lessons/<int:lesson_id>/playback")
def start_playback(lesson_id: int) -> tuple[Response, int]:
    actor = current_actor()
    lesson, _course = catalog_queries.get_visible_lesson(actor, lesson_id)
    asset = media_queries.find_asset(lesson.media_asset_id) if lesson.media_asset_id else None
    if asset is None or asset.status != AssetStatus.READY:
        raise AssetNotReady()
    enrollment.enroll(actor=actor, course=_course, source="studied")
    started = playback.start_playback(
        actor=actor,
        lesson=lesson,
        asset=asset,
        settings=_settings(),
        now=clock(),
        client_ip=client_ip(),
        user_agent=request.headers.get("User-Agent", ""),
    )
    db.session.commit()
    return (
        jsonify(
            session_id=started.session.public_id,
            heartbeat_interval_s=_settings().heartbeat_interval_s,
            resume_position_s=started.resume_position_s,
            duration_s=started.duration_s,
            playlist_url=url_for("learn.playlist", lesson_id=lesson.id, path="master.m3u8"),
        ),
        201,
    )


def _ended_response(reason: str | None) -> tuple[Response, int]:
    code = reason if reason in END_MESSAGES else "ended"
    body = {"error": f"playback_{code}" if code in ("superseded", "expired") else code}
    body["message"] = gettext(END_MESSAGES[code])
    return jsonify(body), 409


@bp.post("/playback/<session_id>/heartbeat")
def heartbeat(session_id: str) -> tuple[Response, int]:
    token = deferred_bearer()  # a phone app's bearer token: checked in the locking SELECT itself
    try:
        hb = playback.parse_heartbeat(json_body())
    except LmsError:
        if token is not None:
            require_bearer(token)  # a bad token is a 401 before a bad body is a 400
        raise
    settings, now = _settings(), clock()
    result = None
    if token is not None:
        result = playback.receive_heartbeat_by_token(
            token=token, public_id=session_id, hb=hb, settings=settings, now=now
        )
        if result is None:
            require_bearer(token)  # 401 for a bad token; else the session is missing or not theirs
    if result is None:
        result = playback.receive_heartbeat(
            actor=current_actor(), public_id=session_id, hb=hb, settings=settings, now=now
        )
    db.session.commit()
    if result.ended:
        return _ended_response(result.reason)
    return jsonify(heartbeat_json(result)), 200


def heartbeat_json(result: playback.HeartbeatResult) -> dict[str, Any]:
    """The answer to a heartbeat that did not end its session (this view and ``heartbeat_route``)."""
    return {
        "accepted": result.accepted,
        "rejected": None if result.accepted else result.reason,
        "accepted_s": round(result.accepted_s, 3),
        "lesson": {
            "covered_s": round(result.covered_s, 3),
            "duration_s": result.duration_s,
            "percent": result.percent,
            "completed": result.completed,
            # What the server has credited so far: the player re-sends anything played but not in
            # here (e.g. clipped while the server was slow), so honest time is never lost
            "covered": [[round(a, 3), round(b, 3)] for a, b in result.covered[:500]],
        },
        "course_completed": result.course_completed,
        "challenge": result.challenge,
    }


@bp.get("/me/learning-hours")
def my_learning_hours() -> Response:
    actor = current_actor()
    try:
        year = int(request.args.get("year") or year_of(datetime.fromtimestamp(clock(), UTC)))
    except ValueError as error:
        raise ValidationFailed(fields={"year": N_("Must be a whole number.")}) from error
    if not 2000 <= year <= 2100:
        raise ValidationFailed(fields={"year": N_("Must be a whole number.")})
    return jsonify(learner_year_json(learner_year(actor, year)))


# ----------------------------------------------------------------------------------------------------
# Admins


def rule_json(rule: Any, org_name: str | None = None) -> dict[str, Any]:
    return {
        "id": rule.id,
        "org_id": rule.org_id,
        "org_name": org_name,
        "rank": rule.rank,
        "cadre_category": rule.cadre_category,
        "hours_per_year": float(rule.hours_per_year),
        "window_years": rule.window_years,
        "required_hours": float(rule.required_hours),
        "label": rule.label,
    }


@bp.get("/learning/targets")
def list_targets() -> Response:
    actor = current_actor()
    if not current_scope(actor).is_admin:
        raise InvalidState(N_("Only administrators manage targets."))
    return jsonify(items=[rule_json(rule, name) for rule, name in targets.list_rules(actor)])


@bp.post("/learning/targets")
def create_target() -> tuple[Response, int]:
    rule = targets.save_rule(actor=current_actor(), data=json_body())
    db.session.commit()
    return jsonify(target=rule_json(rule)), 201


@bp.put("/learning/targets/<int:rule_id>")
def update_target(rule_id: int) -> Response:
    rule = db.session.get(TargetRule, rule_id) if 0 < rule_id <= 2**31 - 1 else None
    if rule is None:
        raise NotFound()
    rule = targets.save_rule(actor=current_actor(), data=json_body(), rule=rule)
    db.session.commit()
    return jsonify(target=rule_json(rule))


def entry_json(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.id,
        "user_id": entry.user_id,
        "year": entry.year,
        "hours": float(entry.hours),
        "kind": str(entry.kind),
        "source_kind": str(entry.source_kind),
        "title": entry.title,
        "reason": entry.reason,
        "corrects_id": entry.corrects_id,
        "created_by_id": entry.created_by_id,
        "created_at": entry.created_at.isoformat(),
    }


@bp.post("/ledger/<int:entry_id>/revoke")
def revoke_entry(entry_id: int) -> tuple[Response, int]:
    actor = current_actor()
    entry, owner = credits.get_entry_for_admin(actor, entry_id)
    row = credits.revoke_entry(
        actor=actor,
        entry=entry,
        owner=owner,
        reason=str(json_body().get("reason") or ""),
        now=datetime.now(UTC),
    )
    db.session.commit()
    return jsonify(entry=entry_json(row)), 201


@bp.post("/ledger/<int:entry_id>/corrections")
def correct_entry(entry_id: int) -> tuple[Response, int]:
    actor = current_actor()
    entry, owner = credits.get_entry_for_admin(actor, entry_id)
    data = json_body()
    row = credits.correct_entry(
        actor=actor,
        entry=entry,
        owner=owner,
        delta=data.get("hours"),
        reason=str(data.get("reason") or ""),
        now=datetime.now(UTC),
    )
    db.session.commit()
    return jsonify(entry=entry_json(row)), 201


# ----------------------------------------------------------------------------------------------------
# 选课 and "my courses"


def my_course_json(item: enrollment.MyCourse) -> dict[str, Any]:
    revision = item.course.published_revision
    return {
        "course_id": item.course.id,
        "title": revision.title if revision else "",
        "hours": float(revision.hours) if revision else 0,
        "use": str(revision.use) if revision else None,
        "source": item.source,
        "selected_at": item.selected_at.isoformat(),
        "percent": item.percent,
        "completed": item.completed,
        "lessons_done": item.lessons_done,
        "lessons_total": item.lessons_total,
    }


@bp.post("/courses/<int:course_id>/enrollment")
def enroll(course_id: int) -> tuple[Response, int]:
    actor = current_actor()
    course = catalog_queries.get_published_course(actor, course_id)
    added = enrollment.enroll(actor=actor, course=course)
    db.session.commit()
    return jsonify(enrolled=True, learner_count=course.learner_count), 201 if added else 200


@bp.delete("/courses/<int:course_id>/enrollment")
def drop(course_id: int) -> tuple[str, int]:
    actor = current_actor()
    course = catalog_queries.get_published_course(actor, course_id)
    enrollment.drop(actor=actor, course=course)
    db.session.commit()
    return "", 204


@bp.get("/me/courses")
def my_courses() -> Response:
    status = request.args.get("status", "all")
    if status not in ("all", "in_progress", "completed"):
        raise ValidationFailed(fields={"status": N_("Not a valid choice.")})
    args = page_args()
    page = enrollment.my_courses(current_actor(), status=status, page=args.page, per_page=args.per_page)
    return jsonify(
        items=[my_course_json(i) for i in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )


# ----------------------------------------------------------------------------------------------------
# Admins inspect evidence


def _scope_or_404() -> Any:
    scope = current_scope(current_actor())
    if not scope.is_admin:
        raise NotFound()
    return scope


def session_json(session: Any) -> dict[str, Any]:
    return {
        "id": session.public_id,
        "lesson_id": session.lesson_id,
        "course_id": session.course_id,
        "status": str(session.status),
        "ended_reason": session.ended_reason,
        "started_at": session.started_at.isoformat(),
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "credited_s": round(session.credited_s, 3),
        "heartbeats": session.heartbeats,
        "rejected": session.rejected,
        "challenges_failed": session.challenges_failed,
        "client_ip": session.client_ip,
        "user_agent": session.user_agent,
    }


@bp.get("/admin/learners/suspicious")
def suspicious() -> Response:
    scope = _scope_or_404()
    try:
        days = min(366, max(1, int(request.args.get("days", "30"))))
    except ValueError:
        days = 30
    since = datetime.fromtimestamp(clock(), UTC) - timedelta(days=days)
    return jsonify(
        items=[
            {
                "user": {"id": s.user.id, "name": s.user.display_name, "org": s.user.org.name},
                "sessions": s.sessions,
                "heartbeats": s.heartbeats,
                "rejected": s.rejected,
                "challenges_failed": s.challenges_failed,
                "superseded": s.superseded,
                "credited_s": round(s.credited_s, 1),
                "flags": s.flags,
            }
            for s in evidence.suspicious_learners(scope, since=since)
        ]
    )


@bp.get("/admin/users/<int:user_id>/learning")
def cadre_learning(user_id: int) -> Response:
    scope = _scope_or_404()
    user = evidence.get_cadre(scope, user_id)
    args = page_args()
    sessions = evidence.sessions_of(user, page=args.page, per_page=args.per_page)
    return jsonify(
        user={"id": user.id, "name": user.display_name, "org": user.org.name},
        credits=[entry_json(e) for e in evidence.credits_of(user)],
        sessions=[session_json(s) for s in sessions.items],
        sessions_total=sessions.total,
    )


@bp.get("/admin/playback/<session_id>/heartbeats")
def session_heartbeats(session_id: str) -> Response:
    session, rows = evidence.heartbeats_of(_scope_or_404(), session_id)
    return jsonify(
        session=session_json(session),
        heartbeats=[
            {
                "received_at": r.received_at.isoformat(),
                "seq": r.seq,
                "position_s": r.position_s,
                "rate": r.rate,
                "visible": r.visible,
                "claimed": r.claimed,
                "accepted": r.accepted,
                "reason": r.reason,
                "notes": r.notes,
                "credited": r.credited,
                "credited_s": r.credited_s,
                "challenge_issued": r.challenge_issued,
            }
            for r in rows
        ],
    )
