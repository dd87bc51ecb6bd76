"""Offline training claims (线下学时登记): a cadre submits, admins up the org tree approve, reject or forward.

Who sees what:
- the cadre sees their own claims;
- an admin sees the claims of cadres in their subtree (anything else is "not found");
- an admin acts on a pending claim when the org it waits at (``current_org_id``) is in their scope, and
  never on their own claim.

Authority: each admin may approve at most the hours configured in ``claim_authority`` for the kind of
org of their grant (the most generous of their grants covering the claim's current org; a system admin
has no limit). Above it they forward the claim to the parent of that grant's org, which is where the
next level's admins find it. Every submission, forward and decision is a ``ClaimStep`` (who, when, from
which org to which) and the admins' actions are audited too.

Approving locks the claim row, so two admins approving at once approve it once; the ledger row
(reference ``claim:<id>``) is inserted with ON CONFLICT DO NOTHING as a second guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select

from lms.accounts.models import Organization, OrgKind, Role, RoleGrant, User
from lms.accounts.permissions import AdminScope, admin_scope
from lms.audit.services import record
from lms.catalog.models import Category
from lms.core.db import db, insert_ignoring_conflicts, utcnow
from lms.core.errors import InvalidState, NotFound, PermissionDenied, ValidationFailed
from lms.core.i18n import N_
from lms.core.pagination import Page
from lms.learning.credits import CHINA
from lms.learning.models import EntryKind, LedgerEntry, SourceKind
from lms.reviews.evidence import Upload, check_uploads, store_evidence
from lms.reviews.models import (
    PENDING,
    ClaimAuthority,
    ClaimEvidence,
    ClaimStatus,
    ClaimStep,
    OfflineClaim,
    StepAction,
)
from media_pipeline import ObjectStore

MAX_ID = 2**31 - 1
MAX_HOURS = Decimal("200")
TWO_PLACES = Decimal("0.01")


# ----------------------------------------------------------------------------------------------------
# Submitting


@dataclass(frozen=True)
class ClaimData:
    title: str
    organizer: str
    start_date: date
    end_date: date
    hours: Decimal
    category_id: int | None
    use: str
    note: str


def _date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None


def clean_claim_data(raw: Mapping[str, Any], *, today: date) -> ClaimData:
    """Check a claim's fields (form or JSON values); all problems at once as field errors."""
    errors: dict[str, str] = {}
    title = str(raw.get("title") or "").strip()
    organizer = str(raw.get("organizer") or "").strip()
    if not title or len(title) > 200:
        errors["title"] = N_("Give the training's title (at most 200 characters).")
    if not organizer or len(organizer) > 200:
        errors["organizer"] = N_("Give the organizer (at most 200 characters).")
    start, end = _date(raw.get("start_date")), _date(raw.get("end_date"))
    if start is None or start.year < 2000:
        errors["start_date"] = N_("Give a date as YYYY-MM-DD.")
    if end is None or end.year < 2000:
        errors["end_date"] = N_("Give a date as YYYY-MM-DD.")
    elif end > today:
        errors["end_date"] = N_("Claim a training only after it has ended.")
    elif start is not None and end < start:
        errors["end_date"] = N_("The training cannot end before it starts.")
    hours = Decimal("0")
    try:
        hours = Decimal(str(raw.get("hours", "")).strip()).quantize(TWO_PLACES)
    except (InvalidOperation, ValueError):
        errors["hours"] = N_("Must be a number of learning hours.")
    else:
        if not Decimal("0") < hours <= MAX_HOURS:
            errors["hours"] = N_("Claim more than 0 and at most 200 learning hours.")
    category_id: int | None = None
    raw_category = raw.get("category_id")
    if raw_category not in (None, ""):
        try:
            category_id = int(str(raw_category))
        except ValueError:
            category_id = None
        if (
            category_id is None
            or not 0 < category_id <= MAX_ID
            or db.session.get(Category, category_id) is None
        ):
            errors["category_id"] = N_("Choose one of the categories.")
    use = str(raw.get("use") or "elective")
    if use not in ("required", "elective"):
        errors["use"] = N_("Choose required or elective.")
    note = str(raw.get("note") or "").strip()
    if len(note) > 1000:
        errors["note"] = N_("At most 1000 characters.")
    if errors:
        raise ValidationFailed(fields=errors)
    assert start is not None and end is not None
    return ClaimData(title, organizer, start, end, hours, category_id, use, note)


def submit_claim(
    *, actor: User, data: ClaimData, uploads: list[Upload], store: ObjectStore | None, now: datetime
) -> OfflineClaim:
    """The claim waits at the cadre's own org; its evidence goes to the object store (needed only when
    there are files)."""
    files = check_uploads(uploads)  # before anything is written
    claim = OfflineClaim(
        user_id=actor.id,
        org_id=actor.org_id,
        current_org_id=actor.org_id,
        status=ClaimStatus.SUBMITTED,
        title=data.title,
        organizer=data.organizer,
        start_date=data.start_date,
        end_date=data.end_date,
        hours=data.hours,
        category_id=data.category_id,
        use=data.use,
        note=data.note,
        created_at=now,
        updated_at=now,
    )
    db.session.add(claim)
    db.session.flush()
    _step(claim, actor, StepAction.SUBMITTED, None, actor.org_id, "", now)
    if files:
        assert store is not None
        store_evidence(store=store, claim=claim, files=files)
    return claim


def add_evidence(
    *, actor: User, claim: OfflineClaim, uploads: list[Upload], store: ObjectStore
) -> list[ClaimEvidence]:
    """The cadre may add files while nobody has acted on the claim yet."""
    if claim.user_id != actor.id:
        raise NotFound()
    if claim.status != ClaimStatus.SUBMITTED:
        raise InvalidState(N_("Evidence can only be added before the claim is reviewed."))
    existing = evidence_of(claim)
    files = check_uploads(uploads, already=len(existing), already_bytes=sum(e.size for e in existing))
    if not files:
        raise ValidationFailed(N_("Choose at least one file."))
    return store_evidence(store=store, claim=claim, files=files)


def _step(
    claim: OfflineClaim,
    actor: User,
    action: StepAction,
    from_org_id: int | None,
    to_org_id: int | None,
    reason: str,
    now: datetime,
) -> ClaimStep:
    step = ClaimStep(
        claim_id=claim.id,
        actor_id=actor.id,
        action=action,
        from_org_id=from_org_id,
        to_org_id=to_org_id,
        reason=reason,
        at=now,
    )
    db.session.add(step)
    db.session.flush()
    return step


# ----------------------------------------------------------------------------------------------------
# Reading


def _in_paths(column: Any, paths: tuple[str, ...]) -> Any:
    return or_(*(column.startswith(p, autoescape=True) for p in paths))


def _org_path(org_id: int) -> str:
    return db.session.scalar(select(Organization.path).where(Organization.id == org_id)) or ""


def can_see(actor: User, claim: OfflineClaim, scope: AdminScope | None = None) -> bool:
    if claim.user_id == actor.id:
        return True
    scope = scope or admin_scope(actor)
    return scope.is_admin and scope.covers_path(_org_path(claim.org_id))


def get_claim(actor: User, claim_id: int, *, lock: bool = False) -> OfflineClaim:
    """The claim if the actor may see it (theirs, or a cadre's in their subtree), else NotFound."""
    if not 0 < claim_id <= MAX_ID:
        raise NotFound()
    stmt = select(OfflineClaim).where(OfflineClaim.id == claim_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    claim = db.session.scalar(stmt)
    if claim is None or not can_see(actor, claim):
        raise NotFound()
    return claim


def my_claims(actor: User, *, page: int = 1, per_page: int = 20) -> Page:
    base = select(OfflineClaim).where(OfflineClaim.user_id == actor.id)
    return _page(base, page, per_page)


def review_queue(actor: User, *, page: int = 1, per_page: int = 20) -> Page:
    """Pending claims waiting at an org in the admin's scope (not their own), oldest first."""
    scope = admin_scope(actor)
    if not scope.is_admin:
        raise NotFound()
    base = select(OfflineClaim).where(OfflineClaim.status.in_(PENDING), OfflineClaim.user_id != actor.id)
    if scope.sql_paths is not None:
        base = base.join(Organization, Organization.id == OfflineClaim.current_org_id).where(
            _in_paths(Organization.path, scope.sql_paths)
        )
    return _page(base, page, per_page, oldest_first=True)


def _page(base: Any, page: int, per_page: int, *, oldest_first: bool = False) -> Page:
    total = db.session.scalar(select(db.func.count()).select_from(base.subquery())) or 0
    order = OfflineClaim.id.asc() if oldest_first else OfflineClaim.id.desc()
    items = list(db.session.scalars(base.order_by(order).limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)


def steps_of(claim: OfflineClaim) -> list[ClaimStep]:
    return list(
        db.session.scalars(select(ClaimStep).where(ClaimStep.claim_id == claim.id).order_by(ClaimStep.id))
    )


def last_steps(claim_ids: list[int]) -> dict[int, ClaimStep]:
    if not claim_ids:
        return {}
    latest = (
        select(db.func.max(ClaimStep.id))
        .where(ClaimStep.claim_id.in_(claim_ids))
        .group_by(ClaimStep.claim_id)
    )
    return {s.claim_id: s for s in db.session.scalars(select(ClaimStep).where(ClaimStep.id.in_(latest)))}


def evidence_of(claim: OfflineClaim) -> list[ClaimEvidence]:
    return list(
        db.session.scalars(
            select(ClaimEvidence).where(ClaimEvidence.claim_id == claim.id).order_by(ClaimEvidence.id)
        )
    )


def get_evidence(actor: User, claim_id: int, evidence_id: int) -> ClaimEvidence:
    claim = get_claim(actor, claim_id)
    row = db.session.get(ClaimEvidence, evidence_id) if 0 < evidence_id <= MAX_ID else None
    if row is None or row.claim_id != claim.id:
        raise NotFound()
    return row


def org_names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(wanted))
        ).all()
    )


def user_names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


# ----------------------------------------------------------------------------------------------------
# Authority


UNLIMITED = None


def authority_table() -> dict[str, Decimal | None]:
    """Org kind -> the most hours its admins may approve (None: no limit); a kind without a row: 0."""
    rows = db.session.scalars(select(ClaimAuthority))
    table: dict[str, Decimal | None] = {str(kind): Decimal("0") for kind in OrgKind}
    table.update({row.org_kind: row.max_hours for row in rows})
    return table


@dataclass(frozen=True)
class Authority:
    max_hours: Decimal | None  # None: no limit
    forward_to: Organization | None  # the parent of the actor's (highest) grant covering the claim

    def allows(self, hours: Decimal) -> bool:
        return self.max_hours is None or Decimal(hours) <= self.max_hours


def authority_over(actor: User, org: Organization) -> Authority | None:
    """What the actor may do with a claim waiting at ``org``; None if it is outside their scope."""
    if not actor.is_active:
        return None
    grants = list(db.session.scalars(select(RoleGrant).where(RoleGrant.user_id == actor.id)))
    parent = db.session.get(Organization, org.parent_id) if org.parent_id else None
    if any(g.role == Role.SYSTEM_ADMIN for g in grants):
        return Authority(UNLIMITED, parent)
    covering = [
        g.org
        for g in grants
        if g.role == Role.ORG_ADMIN and g.org is not None and org.path.startswith(g.org.path)
    ]
    if not covering:
        return None
    table = authority_table()
    limits = [table.get(str(o.kind), Decimal("0")) for o in covering]
    limit = None if any(x is None for x in limits) else max(x for x in limits if x is not None)
    highest = min(covering, key=lambda o: o.depth)
    forward_to = db.session.get(Organization, highest.parent_id) if highest.parent_id else None
    return Authority(limit, forward_to)


def set_authority(*, actor: User, org_kind: str, max_hours: object) -> ClaimAuthority:
    """A system admin changes one level's limit (None: no limit); audited."""
    if not admin_scope(actor).everything:
        raise PermissionDenied()
    if org_kind not in {str(k) for k in OrgKind}:
        raise NotFound()
    limit: Decimal | None = None
    if max_hours is not None:
        try:
            limit = Decimal(str(max_hours)).quantize(TWO_PLACES)
        except (InvalidOperation, ValueError) as error:
            raise ValidationFailed(fields={"max_hours": N_("Must be a number of learning hours.")}) from error
        if isinstance(max_hours, bool) or not Decimal("0") <= limit <= Decimal("10000"):
            raise ValidationFailed(fields={"max_hours": N_("Must be a number of learning hours.")})
    row = db.session.get(ClaimAuthority, org_kind)
    before = None if row is None else row.max_hours
    if row is None:
        row = ClaimAuthority(org_kind=org_kind)
        db.session.add(row)
    row.max_hours = limit
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    db.session.flush()
    record(
        actor=actor,
        action="claims.authority",
        target_type="claim_authority",
        target_id=org_kind,
        target_label=org_kind,
        org_path="/",
        before={"max_hours": None if before is None else str(before)},
        after={"max_hours": None if limit is None else str(limit)},
    )
    return row


# ----------------------------------------------------------------------------------------------------
# Acting


def available_actions(actor: User, claim: OfflineClaim) -> list[str]:
    """What the actor may do with the claim now (the page's buttons; the actions check again)."""
    if not claim.is_pending or claim.user_id == actor.id:
        return []
    current = db.session.get(Organization, claim.current_org_id)
    authority = authority_over(actor, current) if current else None
    if authority is None:
        return []
    actions = ["approve"] if authority.allows(claim.hours) else []
    actions.append("reject")
    if authority.forward_to is not None:
        actions.append("forward")
    return actions


def _for_action(actor: User, claim_id: int) -> tuple[OfflineClaim, Organization, Authority]:
    claim = get_claim(actor, claim_id, lock=True)  # locked until the transaction ends
    if claim.user_id == actor.id:
        raise PermissionDenied(N_("You cannot review your own claim."))
    if not claim.is_pending:
        raise InvalidState(N_("This claim has already been decided."))
    current = db.session.get(Organization, claim.current_org_id)
    assert current is not None
    authority = authority_over(actor, current)
    if authority is None:
        raise InvalidState(N_("This claim now waits at %(org)s."), org=current.name)
    return claim, current, authority


def _reason(reason: str, *, required: bool) -> str:
    text = (reason or "").strip()[:300]
    if required and not text:
        raise ValidationFailed(fields={"reason": N_("Give a reason; the cadre and auditors will see it.")})
    return text


def _audit(
    actor: User, claim: OfflineClaim, action: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    owner = db.session.get(User, claim.user_id)
    record(
        actor=actor,
        action=f"claims.{action}",
        target_type="offline_claim",
        target_id=claim.id,
        target_label=f"{owner.display_name if owner else claim.user_id} · {claim.title}",
        org_path=_org_path(claim.org_id),
        before=before,
        after=after,
    )


def approve(*, actor: User, claim_id: int, reason: str = "", now: datetime) -> OfflineClaim:
    """Approve within the actor's authority: the claim's hours become one ledger row, once."""
    claim, current, authority = _for_action(actor, claim_id)
    if not authority.allows(claim.hours):
        raise InvalidState(
            N_("%(hours)s hours exceed what you may approve (%(limit)s); forward the claim."),
            hours=str(claim.hours),
            limit=str(authority.max_hours),
        )
    text = _reason(reason, required=False)
    owner = db.session.get(User, claim.user_id)
    assert owner is not None
    db.session.execute(
        insert_ignoring_conflicts(LedgerEntry).values(
            user_id=owner.id,
            org_id=owner.org_id,
            year=claim.end_date.year,
            hours=Decimal(claim.hours),
            kind=EntryKind.CREDIT,
            source_kind=SourceKind.OFFLINE_CLAIM,
            category_id=claim.category_id,
            use="required" if claim.use == "required" else "elective",
            course_id=None,
            title=claim.title[:200],
            reference=f"claim:{claim.id}",
            reason="",
            created_by_id=actor.id,
            created_at=now,
        )
    )
    before = {"status": str(claim.status), "current_org_id": claim.current_org_id}
    _decide(claim, actor, ClaimStatus.APPROVED, text, now)
    _step(claim, actor, StepAction.APPROVED, current.id, None, text, now)
    _audit(actor, claim, "approve", before, {"status": "approved", "hours": str(claim.hours)})
    return claim


def reject(*, actor: User, claim_id: int, reason: str, now: datetime) -> OfflineClaim:
    claim, current, _authority = _for_action(actor, claim_id)
    text = _reason(reason, required=True)
    before = {"status": str(claim.status), "current_org_id": claim.current_org_id}
    _decide(claim, actor, ClaimStatus.REJECTED, text, now)
    _step(claim, actor, StepAction.REJECTED, current.id, None, text, now)
    _audit(actor, claim, "reject", before, {"status": "rejected", "reason": text})
    return claim


def forward(*, actor: User, claim_id: int, reason: str = "", now: datetime) -> OfflineClaim:
    """Send the claim up to the parent of the actor's grant org (the next level's admins)."""
    claim, current, authority = _for_action(actor, claim_id)
    target = authority.forward_to
    if target is None:
        raise InvalidState(N_("There is no higher level to forward this claim to."))
    text = _reason(reason, required=False)
    before = {"status": str(claim.status), "current_org_id": claim.current_org_id}
    claim.current_org_id = target.id
    claim.status = ClaimStatus.FORWARDED
    claim.updated_at = now
    _step(claim, actor, StepAction.FORWARDED, current.id, target.id, text, now)
    _audit(actor, claim, "forward", before, {"status": "forwarded", "current_org_id": target.id})
    return claim


def _decide(claim: OfflineClaim, actor: User, status: ClaimStatus, reason: str, now: datetime) -> None:
    claim.status = status
    claim.decision_reason = reason
    claim.decided_by_id = actor.id
    claim.decided_at = now
    claim.updated_at = now
    db.session.flush()


def ledger_entry_for(claim: OfflineClaim) -> LedgerEntry | None:
    return db.session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.user_id == claim.user_id, LedgerEntry.reference == f"claim:{claim.id}"
        )
    )


def today_in_china(now: datetime) -> date:
    return now.astimezone(CHINA).date()
