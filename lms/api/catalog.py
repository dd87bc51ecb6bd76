"""``/api/v1/courses``: search the catalog, read a course, and author and review courses."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext

from lms.accounts import queries as account_queries
from lms.accounts.web import current_scope
from lms.api.v1 import authenticate_bearer
from lms.catalog import permissions, queries, services
from lms.catalog.models import Course, CourseRating, CourseRevision
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.web import current_actor, json_body, page_args
from lms.discovery.engine import get_search_engine
from lms.discovery.services import FACETS, search_catalog, suggest_courses
from lms.learning.enrollment import rate_studied_course

bp = Blueprint("api_catalog", __name__, url_prefix="/api/v1/courses")
bp.before_request(authenticate_bearer)


def revision_json(revision: CourseRevision) -> dict[str, Any]:
    return {
        "number": revision.number,
        "status": str(revision.status),
        "title": revision.title,
        "summary_html": revision.summary_html,
        "category_id": revision.category_id,
        "tags": revision.tags,
        "kind": str(revision.kind),
        "hours": float(revision.hours),
        "credit_rule": str(revision.credit_rule),
        "minutes_per_hour": revision.minutes_per_hour,
        "use": str(revision.use),
        "no_seek_ahead": revision.no_seek_ahead,
        "cover_asset_id": revision.cover_asset_id,
        "visibility_paths": revision.visibility_paths,
        "teacher_ids": revision.teacher_ids,
        "lecturers": revision.lecturers,
        "lessons": revision.lessons,
        "duration_s": revision.duration_s,
        "review_comment": revision.review_comment,
    }


def course_json(course: Course, *, editor: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": course.id,
        "status": str(course.status),
        "org_id": course.org_id,
        "published_at": course.published_at.isoformat() if course.published_at else None,
    }
    if course.published_revision:
        body["published"] = revision_json(course.published_revision)
    if editor and course.working_revision:
        body["working"] = revision_json(course.working_revision)
    return body


@bp.get("")
def search_courses() -> Response:
    args = page_args(default_per_page=20, max_per_page=50)
    filters = {facet: request.args.getlist(facet) for facet in FACETS if request.args.getlist(facet)}
    result = search_catalog(
        get_search_engine(),
        user=current_actor(),
        text=request.args.get("q", ""),
        filters=filters,
        sort=request.args.get("sort", "relevance"),
        page=args.page,
        per_page=args.per_page,
    )
    return jsonify(
        total=result.total,
        page=result.page,
        per_page=result.per_page,
        degraded=result.degraded,
        notice=gettext("Search is running in reduced mode; results may be incomplete.")
        if result.degraded
        else None,
        hits=[
            {
                "id": hit.id,
                "title": hit.title,
                "kind": hit.kind,
                "hours": hit.hours,
                "duration_s": hit.duration_s,
                "tags": list(hit.tags),
                "highlights": hit.highlights,
            }
            for hit in result.hits
        ],
        facets={
            name: [{"value": v, "count": n} for v, n in buckets] for name, buckets in result.facets.items()
        },
    )


@bp.get("/suggest")
def suggest() -> Response:
    found = suggest_courses(get_search_engine(), user=current_actor(), prefix=request.args.get("q", ""))
    return jsonify(suggestions=[{"text": s.text, "kind": s.kind, "course_id": s.course_id} for s in found])


@bp.get("/<int:course_id>")
def get_course(course_id: int) -> Response:
    return jsonify(course_json(queries.get_published_course(current_actor(), course_id)))


# --- ratings and comments -------------------------------------------------------------------------


def rating_json(rating: CourseRating, *, moderator: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": rating.id,
        "stars": rating.stars,
        "comment": rating.comment,
        "updated_at": rating.updated_at.isoformat(),
    }
    if moderator:
        body |= {"is_hidden": rating.is_hidden, "moderation_reason": rating.moderation_reason}
    return body


@bp.put("/<int:course_id>/rating")
def rate_course(course_id: int) -> Response:
    actor = current_actor()
    course = queries.get_published_course(actor, course_id)
    data = json_body()
    rating = rate_studied_course(
        actor=actor, course=course, stars=data.get("stars"), comment=str(data.get("comment") or "")
    )
    db.session.commit()
    return jsonify(
        rating_json(rating)
        | {"course": {"rating_avg": float(course.rating_avg), "rating_count": course.rating_count}}
    )


@bp.get("/<int:course_id>/ratings")
def list_ratings(course_id: int) -> Response:
    actor = current_actor()
    course = queries.get_published_course(actor, course_id)
    moderator = permissions.can_review(actor, account_queries.find_org(course.org_id).path)  # type: ignore[union-attr]
    args = page_args()
    page = queries.list_ratings(course, include_hidden=moderator, page=args.page, per_page=args.per_page)
    return jsonify(
        rating_avg=float(course.rating_avg),
        rating_count=course.rating_count,
        total=page.total,
        items=[rating_json(r, moderator=moderator) for r in page.items],
    )


@bp.post("/<int:course_id>/ratings/<int:rating_id>/moderate")
def moderate_rating(course_id: int, rating_id: int) -> Response:
    actor = current_actor()
    course = queries.get_editable_course(actor, current_scope(actor), course_id)
    rating = queries.find_rating(course, rating_id)
    if rating is None:
        raise NotFound()
    data = json_body()
    services.moderate_rating(
        actor=actor,
        course=course,
        rating=rating,
        hidden=bool(data.get("hidden")),
        reason=str(data.get("reason") or ""),
    )
    db.session.commit()
    return jsonify(rating_json(rating, moderator=True))


# --- authoring and review ------------------------------------------------------------------------


@bp.post("")
def create_course() -> tuple[Response, int]:
    actor = current_actor()
    data = json_body()
    org = account_queries.find_org(int(data["org_id"])) if isinstance(data.get("org_id"), int) else actor.org
    if org is None:
        raise ValidationFailed(fields={"org_id": N_("Not a valid choice.")})
    course = services.create_course(actor=actor, org=org, data=clean_course_data(data))
    db.session.commit()
    return jsonify(course_json(course, editor=True)), 201


@bp.get("/<int:course_id>/edit")
def get_course_for_editing(course_id: int) -> Response:
    actor = current_actor()
    return jsonify(
        course_json(queries.get_editable_course(actor, current_scope(actor), course_id), editor=True)
    )


@bp.patch("/<int:course_id>")
def edit_course(course_id: int) -> Response:
    actor = current_actor()
    course = queries.get_editable_course(actor, current_scope(actor), course_id)
    data = services.course_data_of(course.working_revision or course.current).__dict__ | json_body()
    services.edit_course(actor=actor, course=course, data=clean_course_data(data))
    db.session.commit()
    return jsonify(course_json(course, editor=True))


def _workflow(course_id: int, action: str) -> Response:
    actor = current_actor()
    course = queries.get_editable_course(actor, current_scope(actor), course_id)
    body = request.get_json(silent=True) if request.data else {}
    body = body if isinstance(body, dict) else {}
    if action == "submit":
        services.submit_for_review(actor=actor, course=course)
    elif action == "approve":
        services.approve(actor=actor, course=course, comment=str(body.get("comment", "")))
    elif action == "reject":
        services.reject(actor=actor, course=course, reason=str(body.get("reason", "")))
    else:
        services.archive(actor=actor, course=course)
    db.session.commit()
    return jsonify(course_json(course, editor=True))


@bp.post("/<int:course_id>/submit")
def submit_course(course_id: int) -> Response:
    return _workflow(course_id, "submit")


@bp.post("/<int:course_id>/approve")
def approve_course(course_id: int) -> Response:
    return _workflow(course_id, "approve")


@bp.post("/<int:course_id>/reject")
def reject_course(course_id: int) -> Response:
    return _workflow(course_id, "reject")


@bp.post("/<int:course_id>/archive")
def archive_course(course_id: int) -> Response:
    return _workflow(course_id, "archive")


@bp.get("/review-queue")
def review_queue() -> Response:
    actor = current_actor()
    args = page_args()
    page = queries.list_review_queue(current_scope(actor), page=args.page, per_page=args.per_page)
    return jsonify(items=[course_json(c, editor=True) for c in page.items], total=page.total, page=page.page)
