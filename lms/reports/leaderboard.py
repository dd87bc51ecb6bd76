"""学习排行 (the learner leaderboard): whether it is on for a unit, switching it, and a cadre's own view.

Each unit may have its own setting; the nearest one up the tree (the unit's own, else its parent's, …)
decides for its subtree, and without any it is on. An admin whose scope covers the unit switches it
(audited). When it is off, admins' report pages for that subtree and the unit's cadres see no ranking.

A cadre's leaderboard is their own unit (its subtree) this calendar year: the top 20 cadres by net hours
and the cadre's own place (only cadres with hours > 0 are ranked; ties: the earlier account first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import admin_scope
from lms.audit.services import record
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.reports import queries
from lms.reports.models import LeaderboardSetting

LEARNER_TOP = 20


@dataclass(frozen=True)
class Switch:
    org: Organization
    enabled: bool  # what applies to the org
    own: bool | None  # the org's own setting (None: it follows the unit above)
    decided_by: Organization | None  # the org whose setting applies (None: nobody's, the default)

    def as_json(self) -> dict[str, Any]:
        return {
            "org_id": self.org.id,
            "enabled": self.enabled,
            "own": self.own,
            "decided_by": queries.org_ref(self.decided_by) if self.decided_by else None,
        }


def leaderboard_switch(org: Organization) -> Switch:
    ids = [int(p) for p in org.path.strip("/").split("/") if p]
    rows = db.session.execute(
        select(LeaderboardSetting.enabled, Organization)
        .join(Organization, Organization.id == LeaderboardSetting.org_id)
        .where(LeaderboardSetting.org_id.in_(ids))
    ).all()
    own = next((enabled for enabled, o in rows if o.id == org.id), None)
    if not rows:
        return Switch(org, True, own, None)
    enabled, nearest = max(rows, key=lambda row: row[1].depth)
    return Switch(org, bool(enabled), own, nearest)


def parse_setting(value: object) -> bool | None:
    """``true``/``false`` (also "on"/"off", "1"/"0"), or ``null``/"inherit": follow the unit above."""
    if value is None or value == "inherit":
        return None
    if isinstance(value, bool):
        return value
    if value in ("on", "1", "true"):
        return True
    if value in ("off", "0", "false"):
        return False
    raise ValidationFailed(fields={"enabled": N_("Choose on, off or as the unit above.")})


def set_leaderboard(*, actor: User, org: Organization, enabled: bool | None, now: datetime) -> Switch:
    """Switch 学习排行 on or off for the org's subtree, or (None) let it follow the unit above. The actor
    must administer the org (else 404). Audited."""
    if not admin_scope(actor).covers(org):
        raise NotFound()
    before = leaderboard_switch(org)
    row = db.session.get(LeaderboardSetting, org.id)
    if enabled is None:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(
            LeaderboardSetting(org_id=org.id, enabled=enabled, updated_by_id=actor.id, updated_at=now)
        )
    else:
        row.enabled, row.updated_by_id, row.updated_at = enabled, actor.id, now
    db.session.flush()
    after = leaderboard_switch(org)
    if (before.own, before.enabled) != (after.own, after.enabled):
        record(
            actor=actor,
            action="reports.leaderboard_switch",
            target_type="organization",
            target_id=org.id,
            target_label=org.name,
            org_path=org.path,
            before={"own": before.own, "enabled": before.enabled},
            after={"own": after.own, "enabled": after.enabled},
        )
    return after


# A cadre's own leaderboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    place: int
    user_id: int
    name: str
    org_name: str
    hours: Decimal

    def as_json(self, me: int) -> dict[str, Any]:
        return {
            "place": self.place,
            "name": self.name,
            "org": self.org_name,
            "hours": float(self.hours),
            "me": self.user_id == me,
        }


@dataclass(frozen=True)
class MyBoard:
    org: Organization
    period: queries.Period
    top: list[Place]
    me: Place | None  # None: no hours yet this year
    ranked: int  # cadres with hours > 0

    def as_json(self, me: int) -> dict[str, Any]:
        return {
            "enabled": True,
            "org": queries.org_ref(self.org),
            "period": self.period.as_json(),
            "items": [p.as_json(me) for p in self.top],
            "me": self.me.as_json(me) if self.me else None,
            "ranked": self.ranked,
        }


def my_leaderboard(user: User, *, now: datetime | None = None, limit: int = LEARNER_TOP) -> MyBoard | None:
    """The cadre's unit leaderboard this year, or None when it is switched off there (or the user is no
    active learner)."""
    if not (user.is_active and user.is_learner):
        return None
    org = db.session.get(Organization, user.org_id)
    if org is None or not leaderboard_switch(org).enabled:
        return None
    period = queries.this_year(now or datetime.now(UTC))
    rows, ranked = queries.ranking(org, period, limit=limit, user_id=user.id)
    places = [Place(*row) for row in rows]
    return MyBoard(
        org=org,
        period=period,
        top=[p for p in places if p.place <= limit],
        me=next((p for p in places if p.user_id == user.id), None),
        ranked=ranked,
    )
