"""Yearly 学时 targets as rules by org, rank and cadre category (the most specific rule wins).

Defaults (domain.md; seeded by the migration): 90 a year for 乡科级 and below, 550 in 5 years (110 a year)
for 县处级 and above, 72 a year for 专业技术人员. Admins edit them for their subtree (audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import or_, select

from lms.accounts.models import CadreCategory, Organization, Rank, User
from lms.accounts.permissions import admin_scope
from lms.audit.services import record
from lms.core.db import db, utcnow
from lms.core.errors import NotFound, PermissionDenied, ValidationFailed
from lms.core.i18n import N_
from lms.learning.models import TargetRule


@dataclass(frozen=True)
class Target:
    hours: Decimal
    required_hours: Decimal
    window_years: int
    label: str
    rule_id: int | None


FALLBACK = Target(Decimal("90"), Decimal("0"), 1, "每年 90 学时", None)


def _specificity(rule: TargetRule, depth: dict[int, int]) -> tuple[int, int, int]:
    return (
        depth.get(rule.org_id, 0) if rule.org_id else 0,
        1 if rule.cadre_category else 0,
        1 if rule.rank else 0,
    )


def target_for(user: User) -> Target:
    path = user.org.path
    ancestors = [int(p) for p in path.strip("/").split("/") if p]
    rules = list(
        db.session.scalars(
            select(TargetRule).where(
                or_(TargetRule.org_id.is_(None), TargetRule.org_id.in_(ancestors)),
                or_(TargetRule.rank.is_(None), TargetRule.rank == (str(user.rank) if user.rank else "")),
                or_(
                    TargetRule.cadre_category.is_(None),
                    TargetRule.cadre_category == (str(user.cadre_category) if user.cadre_category else ""),
                ),
            )
        )
    )
    if not rules:
        return FALLBACK
    depth = {org_id: i + 1 for i, org_id in enumerate(ancestors)}
    best = max(rules, key=lambda r: (_specificity(r, depth), -r.id))
    return Target(
        hours=Decimal(best.hours_per_year),
        required_hours=Decimal(best.required_hours),
        window_years=best.window_years,
        label=best.label,
        rule_id=best.id,
    )


def list_rules(actor: User) -> list[tuple[TargetRule, str | None]]:
    """Rules the actor may see: global ones and those of orgs in their scope."""
    scope = admin_scope(actor)
    rows = db.session.execute(
        select(TargetRule, Organization.path, Organization.name)
        .outerjoin(Organization, Organization.id == TargetRule.org_id)
        .order_by(TargetRule.id)
    ).all()
    return [(rule, name) for rule, path, name in rows if path is None or scope.covers_path(path)]


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    rank, category = data.get("rank"), data.get("cadre_category")
    if rank not in (None, "") and rank not in {r.value for r in Rank}:
        errors["rank"] = N_("Not a valid choice.")
    if category not in (None, "") and category not in {c.value for c in CadreCategory}:
        errors["cadre_category"] = N_("Not a valid choice.")
    values["rank"] = rank or None
    values["cadre_category"] = category or None
    for name, low, high in (("hours_per_year", "0.01", "2000"), ("required_hours", "0", "2000")):
        try:
            amount = Decimal(str(data.get(name, "0" if name == "required_hours" else ""))).quantize(
                Decimal("0.01")
            )
            if not Decimal(low) <= amount <= Decimal(high):
                raise InvalidOperation
            values[name] = amount
        except (InvalidOperation, ValueError):
            errors[name] = N_("Must be a number of learning hours.")
    window = data.get("window_years", 1)
    if window not in (1, 2, 3, 4, 5):
        errors["window_years"] = N_("Must be a whole number of years from 1 to 5.")
    values["window_years"] = window
    values["label"] = str(data.get("label") or "").strip()[:120]
    if not errors and values["required_hours"] > values["hours_per_year"]:
        errors["required_hours"] = N_("Required hours cannot exceed the yearly target.")
    if errors:
        raise ValidationFailed(fields=errors)
    return values


def save_rule(*, actor: User, data: dict[str, Any], rule: TargetRule | None = None) -> TargetRule:
    """Create or update a rule. Org rules: admins of that org's subtree; global rules: system admins."""
    scope = admin_scope(actor)
    org_id = data.get("org_id", rule.org_id if rule else None)
    org = db.session.get(Organization, org_id) if isinstance(org_id, int) else None
    if org_id is not None and org is None:
        raise NotFound()
    allowed = scope.everything if org is None else scope.covers(org)
    if not allowed or (rule is not None and rule.org_id != (org.id if org else None)):
        raise PermissionDenied(N_("You may only set targets for the units you administer."))
    values = _clean(data)
    before = _snapshot(rule) if rule else None
    if rule is None:
        rule = TargetRule(org_id=org.id if org else None)
        db.session.add(rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_by_id, rule.updated_at = actor.id, utcnow()
    db.session.flush()
    record(
        actor=actor,
        action="target.save",
        target_type="target_rule",
        target_id=rule.id,
        target_label=rule.label or "学时目标",
        org_path=org.path if org else "/",
        before=before,
        after=_snapshot(rule),
    )
    return rule


def _snapshot(rule: TargetRule) -> dict[str, Any]:
    return {
        "org_id": rule.org_id,
        "rank": rule.rank,
        "cadre_category": rule.cadre_category,
        "hours_per_year": str(rule.hours_per_year),
        "window_years": rule.window_years,
        "required_hours": str(rule.required_hours),
        "label": rule.label,
    }
