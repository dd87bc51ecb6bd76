"""Web pages for offline training claims: the cadre's list and form, the admins' review queue, a claim's
page with its steps and evidence, and the evidence files themselves (after an access check)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from sqlalchemy import select

from lms.accounts.permissions import admin_scope
from lms.accounts.web import session_or_bearer
from lms.catalog.models import Category
from lms.core.db import db, utcnow
from lms.core.errors import LmsError, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.web import current_actor, error_text, page_args
from lms.learning.credits import CHINA
from lms.media.errors import StorageDown
from lms.media.storage import get_storage
from lms.reviews import claims
from lms.reviews.evidence import read_uploads
from lms.reviews.models import OfflineClaim
from media_pipeline import ObjectNotFound, StorageUnavailable

bp = Blueprint("claims", __name__, url_prefix="/claims")

STATUS_LABELS = {
    "submitted": N_("Waiting for review"),
    "forwarded": N_("Forwarded for review"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
}
STEP_LABELS = {
    "submitted": N_("Submitted"),
    "forwarded": N_("Forwarded"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
}
EVIDENCE_URL_TTL = timedelta(minutes=10)


@bp.app_template_filter("claim_time")
def claim_time(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _names(items: list[OfflineClaim], steps: list[Any]) -> tuple[dict[int, str], dict[int, str]]:
    orgs = claims.org_names(
        {c.current_org_id for c in items}
        | {c.org_id for c in items}
        | {s.from_org_id for s in steps}
        | {s.to_org_id for s in steps}
    )
    users = claims.user_names({c.user_id for c in items} | {s.actor_id for s in steps})
    return orgs, users


def _render_list(template: str, page: Any, **extra: Any) -> str:
    last = claims.last_steps([c.id for c in page.items])
    orgs, users = _names(page.items, list(last.values()))
    return render_template(
        template,
        page=page,
        last=last,
        orgs=orgs,
        users=users,
        status_labels=STATUS_LABELS,
        step_labels=STEP_LABELS,
        **extra,
    )


@bp.get("/")
@login_required
def index() -> str:
    actor = current_actor()
    args = page_args()
    return _render_list(
        "claims/index.html",
        claims.my_claims(actor, page=args.page, per_page=args.per_page),
        is_reviewer=admin_scope(actor).is_admin,
    )


def _categories() -> list[Category]:
    return list(
        db.session.scalars(select(Category).order_by(Category.parent_id.nullsfirst(), Category.position))
    )


@bp.get("/new")
@login_required
def new() -> str:
    return render_template("claims/new.html", categories=_categories(), values={}, errors={})


@bp.post("/new")
@login_required
def submit() -> Response | tuple[str, int]:
    actor = current_actor()
    now = utcnow()
    uploads = read_uploads(request.files.getlist("evidence"))
    try:
        data = claims.clean_claim_data(request.form, today=claims.today_in_china(now))
        store = get_storage() if uploads else None
        claim = claims.submit_claim(actor=actor, data=data, uploads=uploads, store=store, now=now)
    except ValidationFailed as failed:
        db.session.rollback()
        errors = {name: gettext(text) for name, text in failed.fields.items()}
        if not failed.fields:
            errors["evidence"] = gettext(failed.message_id, **failed.params)
        page = render_template(
            "claims/new.html", categories=_categories(), values=request.form.to_dict(), errors=errors
        )
        return page, 422
    db.session.commit()
    flash(gettext("Your claim was submitted to the admins of your unit."), "success")
    return redirect(url_for("claims.detail", claim_id=claim.id))


@bp.get("/review")
@login_required
def review() -> str:
    actor = current_actor()
    args = page_args()
    page = claims.review_queue(actor, page=args.page, per_page=args.per_page)
    actions = {c.id: claims.available_actions(actor, c) for c in page.items}
    return _render_list("claims/review.html", page, actions=actions)


@bp.get("/<int:claim_id>")
@login_required
def detail(claim_id: int) -> str:
    actor = current_actor()
    claim = claims.get_claim(actor, claim_id)
    steps = claims.steps_of(claim)
    orgs, users = _names([claim], steps)
    category = db.session.get(Category, claim.category_id) if claim.category_id else None
    return render_template(
        "claims/detail.html",
        claim=claim,
        steps=steps,
        evidence=claims.evidence_of(claim),
        orgs=orgs,
        users=users,
        category=category,
        actions=claims.available_actions(actor, claim),
        entry=claims.ledger_entry_for(claim),
        status_labels=STATUS_LABELS,
        step_labels=STEP_LABELS,
    )


ACTIONS = {
    "approve": (claims.approve, N_("The claim was approved; the hours are credited to the cadre.")),
    "reject": (claims.reject, N_("The claim was rejected; the cadre sees your reason.")),
    "forward": (claims.forward, N_("The claim was forwarded to the next level.")),
}


@bp.post("/<int:claim_id>/<any(approve, reject, forward):action>")
@login_required
def act(claim_id: int, action: str) -> Response:
    actor = current_actor()
    service, done = ACTIONS[action]
    try:
        service(actor=actor, claim_id=claim_id, reason=request.form.get("reason", ""), now=utcnow())
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(url_for("claims.detail", claim_id=claim_id))
    db.session.commit()
    flash(gettext(done), "success")
    back = "review" if request.form.get("next") == "review" else "detail"
    return redirect(
        url_for("claims.review") if back == "review" else url_for("claims.detail", claim_id=claim_id)
    )


@bp.get("/<int:claim_id>/evidence/<int:evidence_id>")
@session_or_bearer
def evidence(claim_id: int, evidence_id: int) -> Response:
    row = claims.get_evidence(current_actor(), claim_id, evidence_id)
    store = get_storage()
    try:
        url = store.presigned_get_url(row.key, EVIDENCE_URL_TTL)
        if url is not None:
            return redirect(url)  # type: ignore[return-value]
        data = store.read(row.key)
    except ObjectNotFound as error:
        raise NotFound() from error
    except StorageUnavailable as error:
        raise StorageDown() from error
    response = Response(data, mimetype=row.content_type)
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
