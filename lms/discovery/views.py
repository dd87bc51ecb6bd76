"""The learners' course catalog (自主选学): search with facets, and a course's page."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from markupsafe import Markup

from lms.accounts.models import User
from lms.catalog import queries
from lms.catalog.models import KIND_LABELS, USE_LABELS, CourseKind
from lms.core.db import utcnow
from lms.core.i18n import N_
from lms.core.web import current_actor, page_args
from lms.discovery.engine import get_search_engine
from lms.discovery.services import FACETS, search_catalog
from lms.media.models import AssetStatus
from lms.media.queries import find_asset
from lms.media.storage import get_delivery

bp = Blueprint("catalog", __name__)

SORTS = {
    "relevance": N_("Relevance"),
    "newest": N_("Newest"),
    "popularity": N_("Most studied"),
    "rating": N_("Best rated"),
}
FACET_TITLES = {
    "category": N_("Category"),
    "kind": N_("Type"),
    "teacher": N_("Lecturer"),
    "tags": N_("Tags"),
    "hours": N_("Learning hours"),
    "duration": N_("Duration"),
}


# Labels of the range buckets (search.RANGES keys) and kinds, as the filter shows them.
VALUE_LABELS = {
    "<=0.5": N_("Up to 0.5 hours"),
    "0.5-1": N_("0.5 to 1 hour"),
    "1-2": N_("1 to 2 hours"),
    "2-4": N_("2 to 4 hours"),
    ">4": N_("Over 4 hours"),
    "<=15min": N_("Up to 15 minutes (micro-course)"),
    "15-30min": N_("15 to 30 minutes"),
    "30-60min": N_("30 to 60 minutes"),
    ">60min": N_("Over an hour"),
}


@bp.get("/courses")
@login_required
def search() -> str:
    args = page_args(default_per_page=12, max_per_page=48)
    selected = {facet: request.args.getlist(facet) for facet in FACETS if request.args.getlist(facet)}
    sort = request.args.get("sort", "relevance") if request.args.get("sort") in SORTS else "relevance"
    result = search_catalog(
        get_search_engine(),
        user=current_actor(),
        text=request.args.get("q", "")[:200],
        filters=selected,
        sort=sort,
        page=args.page,
        per_page=args.per_page,
    )
    return render_template(
        "discovery/catalog.html",
        result=result,
        q=request.args.get("q", ""),
        selected=selected,
        sort=sort,
        sorts=SORTS,
        facet_titles=FACET_TITLES,
        kind_labels={str(k): v for k, v in KIND_LABELS.items()},
        value_labels=VALUE_LABELS,
        pages=max(1, -(-result.total // result.per_page)),
        highlight=lambda hit, field: Markup(hit.highlights.get(field, "")),  # noqa: S704 - engine output is HTML-escaped with <em> only
    )


def cover_url(asset_id: int | None) -> str | None:
    asset = find_asset(asset_id) if asset_id else None
    if asset is None or asset.status != AssetStatus.READY or not asset.playlist_key:
        return None
    return get_delivery().object_url(asset.playlist_key, utcnow())


@bp.get("/courses/<int:course_id>")
@login_required
def course(course_id: int) -> str:
    user: User = current_actor()
    found = queries.get_published_course(user, course_id)
    revision = found.current
    teachers = queries.teacher_names(revision.teacher_ids) + revision.lecturers
    return render_template(
        "discovery/course.html",
        cover_url=cover_url(revision.cover_asset_id),
        mine=queries.rating_of(found, user),
        comments=queries.list_ratings(found, include_hidden=False, per_page=20),
        course=found,
        lessons=queries.active_lessons(found.id),
        revision=revision,
        teachers=teachers,
        kind_label=KIND_LABELS.get(CourseKind(revision.kind)),
        use_label=USE_LABELS.get(revision.use),
        summary=Markup(revision.summary_html),  # noqa: S704 - sanitized with nh3 when saved
    )
