"""``/api/v1`` for offline training claims (线下学时登记) and their review.

- ``POST /claims``: ``multipart/form-data`` with the fields (title, organizer, start_date, end_date as
  YYYY-MM-DD, hours, category_id, use = required|elective, note) and any number of ``evidence`` files
  (PDF, JPEG or PNG, 20 MB in all), or a JSON object with the same fields and no files; files can be
  added afterwards with ``POST /claims/<id>/evidence`` (multipart, ``evidence``) until someone acts.
- ``GET /claims``: the caller's claims, newest first, each with its status, decision reason and last step.
- ``GET /claims/review-queue``: (admins) pending claims waiting at an org in their scope, oldest first.
- ``GET /claims/<id>``: one claim with all its steps and evidence links (the cadre, or an admin over them).
- ``POST /claims/<id>/approve | reject | forward``: JSON ``{"reason": "…"}`` (required to reject).
- ``GET /claims/authority``, ``PUT /claims/authority/<org kind>`` ``{"max_hours": 24 | null}``: each
  level's approval limit; system admins change it, audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from lms.accounts.models import User
from lms.accounts.permissions import admin_scope
from lms.api.v1 import authenticate_bearer
from lms.core.db import db, utcnow
from lms.core.errors import NotFound
from lms.core.web import current_actor, json_body, page_args
from lms.media.storage import get_storage
from lms.reviews import claims
from lms.reviews.evidence import Upload, read_uploads
from lms.reviews.models import ClaimEvidence, ClaimStep, OfflineClaim

bp = Blueprint("api_claims", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_bearer)


def _uploads() -> list[Upload]:
    return read_uploads(request.files.getlist("evidence"))


def step_json(step: ClaimStep, orgs: dict[int, str], users: dict[int, str]) -> dict[str, Any]:
    return {
        "action": str(step.action),
        "actor": {"id": step.actor_id, "name": users.get(step.actor_id or 0)},
        "from_org": step.from_org_id and {"id": step.from_org_id, "name": orgs.get(step.from_org_id)},
        "to_org": step.to_org_id and {"id": step.to_org_id, "name": orgs.get(step.to_org_id)},
        "reason": step.reason,
        "at": step.at.isoformat(),
    }


def evidence_json(row: ClaimEvidence) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "url": url_for("claims.evidence", claim_id=row.claim_id, evidence_id=row.id),
    }


def claims_json(
    items: list[OfflineClaim], *, full: bool = False, actor: User | None = None
) -> list[dict[str, Any]]:
    last = claims.last_steps([c.id for c in items])
    steps = {c.id: claims.steps_of(c) for c in items} if full else {}
    every_step = [s for group in steps.values() for s in group] + list(last.values())
    orgs = claims.org_names(
        {c.current_org_id for c in items}
        | {c.org_id for c in items}
        | {s.from_org_id for s in every_step}
        | {s.to_org_id for s in every_step}
    )
    users = claims.user_names({c.user_id for c in items} | {s.actor_id for s in every_step})
    out = []
    for claim in items:
        body: dict[str, Any] = {
            "id": claim.id,
            "cadre": {"id": claim.user_id, "name": users.get(claim.user_id)},
            "org": {"id": claim.org_id, "name": orgs.get(claim.org_id)},
            "title": claim.title,
            "organizer": claim.organizer,
            "start_date": claim.start_date.isoformat(),
            "end_date": claim.end_date.isoformat(),
            "hours": float(claim.hours),
            "category_id": claim.category_id,
            "use": claim.use,
            "note": claim.note,
            "status": str(claim.status),
            "waiting_at": {"id": claim.current_org_id, "name": orgs.get(claim.current_org_id)}
            if claim.is_pending
            else None,
            "decision_reason": claim.decision_reason,
            "decided_at": claim.decided_at.isoformat() if claim.decided_at else None,
            "submitted_at": claim.created_at.isoformat(),
            "last_step": step_json(last[claim.id], orgs, users) if claim.id in last else None,
        }
        if full:
            body["steps"] = [step_json(s, orgs, users) for s in steps[claim.id]]
            body["evidence"] = [evidence_json(e) for e in claims.evidence_of(claim)]
            if actor is not None:
                body["actions"] = claims.available_actions(actor, claim)
        out.append(body)
    return out


def _page_json(page: Any) -> dict[str, Any]:
    return {
        "items": claims_json(page.items),
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
    }


@bp.post("/claims")
def submit_claim() -> tuple[Response, int]:
    actor = current_actor()
    now = utcnow()
    raw: dict[str, Any] = request.form.to_dict() if request.mimetype == "multipart/form-data" else json_body()
    data = claims.clean_claim_data(raw, today=claims.today_in_china(now))
    uploads = _uploads()
    store = get_storage() if uploads else None  # a claim without files never needs the object store
    claim = claims.submit_claim(actor=actor, data=data, uploads=uploads, store=store, now=now)
    db.session.commit()
    return jsonify(claims_json([claim], full=True, actor=actor)[0]), 201


@bp.post("/claims/<int:claim_id>/evidence")
def add_evidence(claim_id: int) -> tuple[Response, int]:
    actor = current_actor()
    claim = claims.get_claim(actor, claim_id, lock=True)
    rows = claims.add_evidence(actor=actor, claim=claim, uploads=_uploads(), store=get_storage())
    db.session.commit()
    return jsonify(items=[evidence_json(r) for r in rows]), 201


@bp.get("/claims")
def my_claims() -> Response:
    args = page_args()
    return jsonify(_page_json(claims.my_claims(current_actor(), page=args.page, per_page=args.per_page)))


@bp.get("/claims/review-queue")
def review_queue() -> Response:
    args = page_args()
    return jsonify(_page_json(claims.review_queue(current_actor(), page=args.page, per_page=args.per_page)))


@bp.get("/claims/<int:claim_id>")
def get_claim(claim_id: int) -> Response:
    actor = current_actor()
    return jsonify(claims_json([claims.get_claim(actor, claim_id)], full=True, actor=actor)[0])


def _act(claim_id: int, action: str) -> Response:
    actor = current_actor()
    data = request.get_json(silent=True)
    reason = str(data.get("reason") or "") if isinstance(data, dict) else ""
    now = utcnow()
    if action == "approve":
        claim = claims.approve(actor=actor, claim_id=claim_id, reason=reason, now=now)
    elif action == "reject":
        claim = claims.reject(actor=actor, claim_id=claim_id, reason=reason, now=now)
    else:
        claim = claims.forward(actor=actor, claim_id=claim_id, reason=reason, now=now)
    db.session.commit()
    return jsonify(claims_json([claim], full=True, actor=actor)[0])


@bp.post("/claims/<int:claim_id>/approve")
def approve_claim(claim_id: int) -> Response:
    return _act(claim_id, "approve")


@bp.post("/claims/<int:claim_id>/reject")
def reject_claim(claim_id: int) -> Response:
    return _act(claim_id, "reject")


@bp.post("/claims/<int:claim_id>/forward")
def forward_claim(claim_id: int) -> Response:
    return _act(claim_id, "forward")


@bp.get("/claims/authority")
def list_authority() -> Response:
    if not admin_scope(current_actor()).is_admin:
        raise NotFound()
    table = claims.authority_table()
    return jsonify(
        items=[
            {"org_kind": kind, "max_hours": None if limit is None else float(limit)}
            for kind, limit in table.items()
        ]
    )


@bp.put("/claims/authority/<org_kind>")
def set_authority(org_kind: str) -> Response:
    data = json_body()
    row = claims.set_authority(actor=current_actor(), org_kind=org_kind, max_hours=data.get("max_hours"))
    db.session.commit()
    return jsonify(org_kind=row.org_kind, max_hours=None if row.max_hours is None else float(row.max_hours))
