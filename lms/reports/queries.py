"""Reports on units for administrators: participation, hours per cadre, attainment, content mix.

Definitions (one place; the pages, the API and the exports all use these):

- **Cadres (应学人数)**: active learner accounts (``is_active`` and ``is_learner``) whose *current* org is in
  the unit's subtree. A cadre who moved counts where they are now, with all their hours.
- **Period**: a date range in Asia/Shanghai, both ends included, on the ledger rows' ``created_at``; the
  default is this calendar year. Net hours = the sum of every ledger row in the period (credits,
  corrections, revocations), so a revocation lowers the totals of the period in which it was made.
- **网络培训率**: share of cadres with net online hours (online courses + online tests) > 0 in the period.
  **参学率**: share with net hours > 0 of any kind.
- **Online / offline**: online = ``online_course`` + ``test``; offline = ``class`` (专题班, credited by
  attendance) + ``offline_claim`` (approved 线下学时登记).
- **Target**: each cadre's yearly rule (``lms.learning.targets``: most specific by org depth, then cadre
  category, then rank; lowest id on a tie; 90 when no rule matches), computed in SQL once per distinct
  (org, rank, cadre category). For a whole calendar year the target is the yearly hours; for any other
  period it is prorated: hours x days / 365 (rounded to 0.01).
- **达标 (reached)**: net hours >= the (prorated) target and net 必修 hours >= the (prorated) 必修 target
  (the rule's ``required_hours``, 0 by default). **达标率** = reached / cadres.
- **Category**: a ledger row's category rolled up to its top-level category (理论教育 THEORY, 党性教育
  PARTY_SPIRIT, 专业化能力 PROFESSIONAL, 知识培训 KNOWLEDGE); rows without one count as "other".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, text
from sqlalchemy.sql.elements import TextClause

from lms.accounts.models import Organization, Rank
from lms.accounts.permissions import AdminScope
from lms.catalog.models import Category
from lms.core.db import UTCDateTime, db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_

CHINA = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
ZERO = Decimal("0")
FALLBACK_TARGET = Decimal("90")  # lms.learning.targets.FALLBACK
CATEGORY_CODES = ("THEORY", "PARTY_SPIRIT", "PROFESSIONAL", "KNOWLEDGE")
CATEGORY_KEYS = {
    "THEORY": "theory",
    "PARTY_SPIRIT": "party",
    "PROFESSIONAL": "professional",
    "KNOWLEDGE": "knowledge",
}
CATEGORY_FIELDS = ("theory", "party", "professional", "knowledge", "other")
SOURCE_FIELDS = ("online_course", "test", "class", "offline_claim")
MAX_PERIOD_DAYS = 5 * 366


# Period -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date  # first day, Asia/Shanghai
    end: date  # last day (included)

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time(), CHINA).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(), CHINA).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def is_calendar_year(self) -> bool:
        return self.start == date(self.start.year, 1, 1) and self.end == date(self.start.year, 12, 31)

    @property
    def factor(self) -> Decimal:
        """What share of a yearly target this period asks for."""
        return Decimal(1) if self.is_calendar_year else Decimal(self.days) / Decimal(365)

    def prorate(self, yearly: Decimal) -> Decimal:
        return (Decimal(yearly) * self.factor).quantize(CENT, rounding=ROUND_HALF_UP)

    def as_json(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def this_year(now: datetime | None = None) -> Period:
    year = (now or datetime.now(UTC)).astimezone(CHINA).year
    return Period(date(year, 1, 1), date(year, 12, 31))


def parse_period(start: str | None, end: str | None, now: datetime | None = None) -> Period:
    """``from``/``to`` as YYYY-MM-DD (either may be missing: this calendar year's ends)."""
    default = this_year(now)
    errors: dict[str, str] = {}
    values: dict[str, date] = {}
    for name, raw, fallback in (("from", start, default.start), ("to", end, default.end)):
        if not raw:
            values[name] = fallback
            continue
        try:
            values[name] = date.fromisoformat(raw.strip())
        except ValueError:
            errors[name] = N_("Must be a date like 2026-01-31.")
    if errors:
        raise ValidationFailed(fields=errors)
    period = Period(values["from"], values["to"])
    if period.end < period.start:
        raise ValidationFailed(fields={"to": N_("The end date must not be before the start date.")})
    if period.days > MAX_PERIOD_DAYS:
        raise ValidationFailed(fields={"to": N_("A report covers at most five years.")})
    return period


# Scope ------------------------------------------------------------------------------------------------


def report_root(scope: AdminScope, org_id: int | None) -> Organization:
    """The org a report is about: one the admin may see (anything else is 404). Without an id: the
    admin's own top unit (the province for a system admin)."""
    if not scope.is_admin:
        raise NotFound()
    if org_id is None:
        if scope.everything:
            org = db.session.scalar(
                select(Organization)
                .where(Organization.parent_id.is_(None))
                .order_by(Organization.id)
                .limit(1)
            )
        else:
            org = db.session.scalar(select(Organization).where(Organization.path == scope.paths[0]))
    else:
        org = db.session.get(Organization, org_id) if 0 < org_id <= 2**31 - 1 else None
    if org is None or not scope.covers(org):
        raise NotFound()
    return org


def breadcrumbs(scope: AdminScope, org: Organization) -> list[Organization]:
    """The org's ancestors the admin may see, top first, ending with the org."""
    ids = [int(p) for p in org.path.strip("/").split("/") if p]
    orgs = {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(ids)))}
    return [orgs[i] for i in ids if i in orgs and scope.covers(orgs[i])]


# SQL --------------------------------------------------------------------------------------------------


def _category_sql() -> str:
    """A CASE expression naming the top-level category of ``e.category_id``."""
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.code)).all()
    parent = {cid: pid for cid, pid, _ in rows}
    code = {cid: c for cid, _, c in rows}
    members: dict[str, list[int]] = defaultdict(list)
    for cid in parent:
        top, seen = cid, set()
        while parent.get(top) is not None and top not in seen:
            seen.add(top)
            top = parent[top]
        key = CATEGORY_KEYS.get(code.get(top) or "")
        if key:
            members[key].append(cid)
    whens = " ".join(
        f"WHEN e.category_id IN ({', '.join(str(i) for i in sorted(ids))}) THEN '{key}'"
        for key, ids in members.items()
        if ids
    )
    return f"CASE {whens} ELSE 'other' END" if whens else "'other'"


def _per_user_sql() -> str:
    """CTEs ``members`` (the subtree's cadres), ``targets`` (each member's yearly rule) and ``per_user``
    (one row per member: net hours by use, source and category in the period, target, reached)."""
    cat = _category_sql()
    sums = ",\n".join(
        [
            "SUM(e.hours) AS total",
            "SUM(CASE WHEN e.use = 'required' THEN e.hours ELSE 0 END) AS required",
            *(
                f"SUM(CASE WHEN e.source_kind = '{s}' THEN e.hours ELSE 0 END) AS src_{s}"
                for s in SOURCE_FIELDS
            ),
            *(f"SUM(CASE WHEN {cat} = '{c}' THEN e.hours ELSE 0 END) AS cat_{c}" for c in CATEGORY_FIELDS),
        ]
    )
    picked = ",\n".join(
        [
            "COALESCE(l.total, 0) AS total",
            "COALESCE(l.required, 0) AS required",
            *(f"COALESCE(l.src_{s}, 0) AS src_{s}" for s in SOURCE_FIELDS),
            *(f"COALESCE(l.cat_{c}, 0) AS cat_{c}" for c in CATEGORY_FIELDS),
        ]
    )
    return f"""
WITH members AS (
    SELECT u.id AS user_id, u.org_id, o.path, u.rank, u.cadre_category
    FROM users u JOIN organizations o ON o.id = u.org_id
    WHERE o.path LIKE :prefix AND u.is_active AND u.is_learner
),
rules AS (
    SELECT r.id, r.rank, r.cadre_category, r.hours_per_year, r.required_hours,
           ro.path AS org_path, CASE WHEN r.org_id IS NULL THEN 0 ELSE ro.depth + 1 END AS org_depth
    FROM target_rules r LEFT JOIN organizations ro ON ro.id = r.org_id
),
groups AS (
    SELECT DISTINCT org_id, path, rank, cadre_category FROM members
),
group_rules AS (
    SELECT g.org_id, g.rank, g.cadre_category, (
        SELECT r.id FROM rules r
        WHERE (r.org_path IS NULL OR g.path LIKE r.org_path || '%')
          AND (r.rank IS NULL OR r.rank = g.rank)
          AND (r.cadre_category IS NULL OR r.cadre_category = g.cadre_category)
        ORDER BY r.org_depth DESC,
                 CASE WHEN r.cadre_category IS NULL THEN 0 ELSE 1 END DESC,
                 CASE WHEN r.rank IS NULL THEN 0 ELSE 1 END DESC,
                 r.id ASC
        LIMIT 1
    ) AS rule_id
    FROM groups g
),
ledger AS (
    SELECT e.user_id,
{sums}
    FROM ledger_entries e JOIN members m ON m.user_id = e.user_id
    WHERE e.created_at >= :start AND e.created_at < :end
    GROUP BY e.user_id
),
per_user AS (
    SELECT m.user_id, m.org_id, m.rank,
{picked},
           ROUND(COALESCE(tr.hours_per_year, {FALLBACK_TARGET}) * CAST(:factor AS NUMERIC), 2) AS target,
           ROUND(COALESCE(tr.required_hours, 0) * CAST(:factor AS NUMERIC), 2) AS required_target
    FROM members m
    LEFT JOIN ledger l ON l.user_id = m.user_id
    LEFT JOIN group_rules gr ON gr.org_id = m.org_id
         AND COALESCE(gr.rank, '') = COALESCE(m.rank, '')
         AND COALESCE(gr.cadre_category, '') = COALESCE(m.cadre_category, '')
    LEFT JOIN target_rules tr ON tr.id = gr.rule_id
),
scored AS (
    SELECT p.*,
           CASE WHEN ROUND(p.total, 2) >= p.target AND ROUND(p.required, 2) >= p.required_target
                THEN 1 ELSE 0 END AS reached
    FROM per_user p
)
"""  # noqa: S608 (every query here is built from constants and integer ids; values are bound)


def _params(org: Organization, period: Period) -> dict[str, Any]:
    return {
        "prefix": org.path + "%",
        "start": period.start_utc,
        "end": period.end_utc,
        "factor": str(period.factor),
    }


def _typed(sql: str) -> TextClause:
    return text(sql).bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )


def _dec(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


# Unit aggregates --------------------------------------------------------------------------------------


@dataclass
class Figures:
    """Sums over a set of cadres; rates and means are derived."""

    cadres: int = 0
    participants: int = 0  # net hours > 0
    online_participants: int = 0  # net online hours > 0
    reached: int = 0
    hours: Decimal = ZERO
    required: Decimal = ZERO
    target: Decimal = ZERO  # sum of the cadres' (prorated) targets
    behind_hours: Decimal = ZERO  # sum of what the cadres short of their target still need
    by_source: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(SOURCE_FIELDS, ZERO))
    by_category: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CATEGORY_FIELDS, ZERO))

    def add(self, other: Figures) -> None:
        self.cadres += other.cadres
        self.participants += other.participants
        self.online_participants += other.online_participants
        self.reached += other.reached
        self.hours += other.hours
        self.required += other.required
        self.target += other.target
        self.behind_hours += other.behind_hours
        for k, v in other.by_source.items():
            self.by_source[k] += v
        for k, v in other.by_category.items():
            self.by_category[k] += v

    @property
    def elective(self) -> Decimal:
        return self.hours - self.required

    @property
    def online(self) -> Decimal:
        return self.by_source["online_course"] + self.by_source["test"]

    @property
    def offline(self) -> Decimal:
        return self.by_source["class"] + self.by_source["offline_claim"]

    @property
    def theory_party(self) -> Decimal:
        return self.by_category["theory"] + self.by_category["party"]

    def _rate(self, part: int | Decimal, whole: int | Decimal) -> float | None:
        return round(float(part) / float(whole), 4) if whole else None

    @property
    def online_rate(self) -> float | None:
        return self._rate(self.online_participants, self.cadres)

    @property
    def participation_rate(self) -> float | None:
        return self._rate(self.participants, self.cadres)

    @property
    def reach_rate(self) -> float | None:
        return self._rate(self.reached, self.cadres)

    @property
    def hours_per_cadre(self) -> Decimal | None:
        return (self.hours / self.cadres).quantize(CENT, rounding=ROUND_HALF_UP) if self.cadres else None

    @property
    def theory_party_share(self) -> float | None:
        return self._rate(self.theory_party, self.hours) if self.hours > 0 else None

    def as_json(self) -> dict[str, Any]:
        def num(v: Decimal | None) -> float | None:
            return None if v is None else float(v)

        return {
            "cadres": self.cadres,
            "participants": self.participants,
            "participation_rate": self.participation_rate,
            "online_participants": self.online_participants,
            "online_rate": self.online_rate,
            "reached": self.reached,
            "reach_rate": self.reach_rate,
            "hours": float(self.hours),
            "hours_per_cadre": num(self.hours_per_cadre),
            "required": float(self.required),
            "elective": float(self.elective),
            "online": float(self.online),
            "offline": float(self.offline),
            "target": float(self.target),
            "behind_hours": float(self.behind_hours),
            "by_source": {k: float(v) for k, v in self.by_source.items()},
            "by_category": {k: float(v) for k, v in self.by_category.items()},
            "theory_party": float(self.theory_party),
            "theory_party_share": self.theory_party_share,
        }


@dataclass
class UnitRow:
    org: Organization
    figures: Figures
    own: bool = False  # the cadres attached directly to the report's org (not to a child)
    place: int | None = None  # among siblings by hours per cadre (1 = most)


@dataclass
class UnitReport:
    org: Organization
    period: Period
    total: Figures
    rows: list[UnitRow]
    by_rank: dict[str, Figures]
    months: list[tuple[str, Decimal, Decimal]]  # (YYYY-MM, net hours, net online hours)


def _figures_by_org_rank(org: Organization, period: Period) -> dict[tuple[int, str], Figures]:
    sql = (
        _per_user_sql()
        + f"""
SELECT s.org_id, COALESCE(s.rank, '') AS rank,
       COUNT(*) AS cadres,
       SUM(CASE WHEN s.total > 0 THEN 1 ELSE 0 END) AS participants,
       SUM(CASE WHEN s.src_online_course + s.src_test > 0 THEN 1 ELSE 0 END) AS online_participants,
       SUM(s.reached) AS reached,
       SUM(s.total) AS hours,
       SUM(s.required) AS required,
       SUM(s.target) AS target,
       SUM(CASE WHEN s.reached = 0 AND s.target > s.total THEN s.target - s.total ELSE 0 END) AS behind,
       {", ".join(f"SUM(s.src_{x}) AS src_{x}" for x in SOURCE_FIELDS)},
       {", ".join(f"SUM(s.cat_{c}) AS cat_{c}" for c in CATEGORY_FIELDS)}
FROM scored s
GROUP BY s.org_id, COALESCE(s.rank, '')
"""  # noqa: S608
    )
    result: dict[tuple[int, str], Figures] = {}
    for row in db.session.execute(_typed(sql), _params(org, period)).mappings():
        result[(row["org_id"], row["rank"])] = Figures(
            cadres=int(row["cadres"]),
            participants=int(row["participants"] or 0),
            online_participants=int(row["online_participants"] or 0),
            reached=int(row["reached"] or 0),
            hours=_dec(row["hours"]),
            required=_dec(row["required"]),
            target=_dec(row["target"]),
            behind_hours=_dec(row["behind"]),
            by_source={x: _dec(row[f"src_{x}"]) for x in SOURCE_FIELDS},
            by_category={c: _dec(row[f"cat_{c}"]) for c in CATEGORY_FIELDS},
        )
    return result


def _months(org: Organization, period: Period) -> list[tuple[str, Decimal, Decimal]]:
    if db.session.get_bind().dialect.name == "postgresql":
        month = "to_char(e.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    else:  # SQLite keeps naive UTC text; China has had no daylight saving time since 1991
        month = "strftime('%Y-%m', e.created_at, '+8 hours')"
    sql = f"""
SELECT {month} AS month, SUM(e.hours) AS hours,
       SUM(CASE WHEN e.source_kind IN ('online_course', 'test') THEN e.hours ELSE 0 END) AS online
FROM ledger_entries e
JOIN users u ON u.id = e.user_id
JOIN organizations o ON o.id = u.org_id
WHERE o.path LIKE :prefix AND u.is_active AND u.is_learner
  AND e.created_at >= :start AND e.created_at < :end
GROUP BY {month}
ORDER BY 1
"""  # noqa: S608
    rows = db.session.execute(_typed(sql), _params(org, period)).all()
    found = {m: (_dec(h), _dec(o)) for m, h, o in rows}
    months, cursor = [], date(period.start.year, period.start.month, 1)
    while cursor <= period.end:
        key = cursor.strftime("%Y-%m")
        hours, online = found.get(key, (ZERO, ZERO))
        months.append((key, hours, online))
        cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    return months


def unit_report(org: Organization, period: Period, *, with_months: bool = True) -> UnitReport:
    """The org's figures and one row per child unit (its whole subtree rolled up), ranked among siblings by
    hours per cadre; cadres attached to the org itself get a row of their own."""
    cells = _figures_by_org_rank(org, period)
    children = list(
        db.session.scalars(
            select(Organization).where(Organization.parent_id == org.id).order_by(Organization.id)
        )
    )
    paths = dict(
        db.session.execute(
            select(Organization.id, Organization.path).where(
                Organization.id.in_({org_id for org_id, _ in cells})
            )
        ).all()
    )
    by_child: dict[int, Figures] = {c.id: Figures() for c in children}
    own, total = Figures(), Figures()
    by_rank: dict[str, Figures] = {}
    for (org_id, rank), figures in cells.items():
        total.add(figures)
        by_rank.setdefault(rank, Figures()).add(figures)
        rest = paths[org_id][len(org.path) :]
        child_id = int(rest.split("/", 1)[0]) if rest else None
        by_child.get(child_id, own).add(figures)  # type: ignore[arg-type]
    rows = [UnitRow(c, by_child[c.id]) for c in children]
    ranked = sorted(
        (r for r in rows if r.figures.cadres),
        key=lambda r: (-(r.figures.hours_per_cadre or ZERO), r.org.id),
    )
    for place, row in enumerate(ranked, start=1):
        row.place = place
    rows.sort(key=lambda r: (r.place is None, r.place or 0, r.org.id))
    if own.cadres:
        rows.append(UnitRow(org, own, own=True))
    order = {r.value: i for i, r in enumerate(Rank)}
    by_rank = dict(sorted(by_rank.items(), key=lambda kv: order.get(kv[0], len(order))))
    return UnitReport(
        org=org,
        period=period,
        total=total,
        rows=rows,
        by_rank=by_rank,
        months=_months(org, period) if with_months else [],
    )


# Cadres -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CadreRow:
    user_id: int
    name: str
    login_name: str
    org_id: int
    org_name: str
    rank: str | None
    cadre_category: str | None
    hours: Decimal
    required: Decimal
    online: Decimal
    offline: Decimal
    target: Decimal
    required_target: Decimal
    reached: bool

    @property
    def missing(self) -> Decimal:
        """How far behind: the larger of what the total and the 必修 part still need."""
        return max(ZERO, self.target - self.hours, self.required_target - self.required)

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "name": self.name,
            "login_name": self.login_name,
            "org": {"id": self.org_id, "name": self.org_name},
            "rank": self.rank,
            "cadre_category": self.cadre_category,
            "hours": float(self.hours),
            "required": float(self.required),
            "elective": float(self.hours - self.required),
            "online": float(self.online),
            "offline": float(self.offline),
            "target": float(self.target),
            "required_target": float(self.required_target),
            "reached": self.reached,
            "missing": float(self.missing),
        }


def _cadre_sql(behind: bool, order: str, *, one_user: bool = False) -> str:
    conditions = (["s.reached = 0"] if behind else []) + (["s.user_id = :user_id"] if one_user else [])
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    orders = {
        "missing": "missing DESC, s.user_id",
        "hours": "s.total DESC, s.user_id",
        "name": "u.display_name, s.user_id",
        "unit": "o.path, s.user_id",
    }
    return (
        _per_user_sql()
        + f"""
SELECT s.user_id, u.display_name, u.login_name, s.org_id, o.name AS org_name, s.rank, u.cadre_category,
       s.total, s.required, s.src_online_course + s.src_test AS online,
       s.src_class + s.src_offline_claim AS offline,
       s.target, s.required_target, s.reached,
       CASE WHEN s.target - s.total > s.required_target - s.required
            THEN s.target - s.total ELSE s.required_target - s.required END AS missing
FROM scored s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.org_id
{where}
ORDER BY {orders.get(order, orders["missing"])}
"""  # noqa: S608
    )


def _cadre_row(row: Any) -> CadreRow:
    return CadreRow(
        user_id=row[0],
        name=row[1],
        login_name=row[2],
        org_id=row[3],
        org_name=row[4],
        rank=row[5],
        cadre_category=row[6],
        hours=_dec(row[7]),
        required=_dec(row[8]),
        online=_dec(row[9]),
        offline=_dec(row[10]),
        target=_dec(row[11]),
        required_target=_dec(row[12]),
        reached=bool(row[13]),
    )


def cadre_page(
    org: Organization, period: Period, *, behind: bool, page: int, per_page: int, order: str = "missing"
) -> tuple[list[CadreRow], int]:
    """One page of the subtree's cadres (``behind``: only those short of their target) and the count."""
    base = _cadre_sql(behind, order)
    params = _params(org, period) | {"limit": per_page, "offset": (page - 1) * per_page}
    rows = db.session.execute(_typed(base + " LIMIT :limit OFFSET :offset"), params).all()
    count_sql = _per_user_sql() + (  # noqa: S608
        "SELECT COUNT(*) FROM scored s" + (" WHERE s.reached = 0" if behind else "")
    )
    total = int(db.session.execute(_typed(count_sql), _params(org, period)).scalar() or 0)
    return [_cadre_row(r) for r in rows], total


def iter_cadres(
    org: Organization, period: Period, *, behind: bool, order: str = "unit", batch: int = 2000
) -> Iterator[CadreRow]:
    """Every cadre of the subtree, streamed (server-side cursor on PostgreSQL) for exports."""
    result = db.session.execute(
        _typed(_cadre_sql(behind, order)),
        _params(org, period),
        execution_options={"stream_results": True, "yield_per": batch},
    )
    for row in result:
        yield _cadre_row(row)


def count_cadres(org: Organization, *, behind: bool, period: Period) -> int:
    if not behind:
        sql = """SELECT COUNT(*) FROM users u JOIN organizations o ON o.id = u.org_id
                 WHERE o.path LIKE :prefix AND u.is_active AND u.is_learner"""
        return int(db.session.execute(text(sql), {"prefix": org.path + "%"}).scalar() or 0)
    return cadre_page(org, period, behind=True, page=1, per_page=1)[1]


def leaderboard(org: Organization, period: Period, limit: int = 20) -> list[CadreRow]:
    """学习排行: the subtree's cadres with the most net hours in the period (ties: the earlier account)."""
    rows, _ = cadre_page(org, period, behind=False, page=1, per_page=limit, order="hours")
    return [r for r in rows if r.hours > 0]


# One cadre --------------------------------------------------------------------------------------------


def cadre_entries(user_id: int, period: Period) -> list[Any]:
    """The cadre's ledger rows in the period (newest first)."""
    from lms.learning.models import LedgerEntry

    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.user_id == user_id,
                LedgerEntry.created_at >= period.start_utc,
                LedgerEntry.created_at < period.end_utc,
            )
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        )
    )


def cadre_figures(org: Organization, user_id: int, period: Period) -> CadreRow | None:
    sql = _cadre_sql(False, "unit", one_user=True)
    row = db.session.execute(_typed(sql), _params(org, period) | {"user_id": user_id}).first()
    return _cadre_row(row) if row else None


# JSON -------------------------------------------------------------------------------------------------


def org_ref(org: Organization) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "kind": str(org.kind)}


def unit_report_json(report: UnitReport) -> dict[str, Any]:
    return {
        "org": org_ref(report.org),
        "period": report.period.as_json(),
        "target_factor": float(report.period.factor),
        "total": report.total.as_json(),
        "units": [
            {"org": org_ref(r.org), "own": r.own, "place": r.place, **r.figures.as_json()}
            for r in report.rows
        ],
        "by_rank": {rank or "none": f.as_json() for rank, f in report.by_rank.items()},
        "months": [{"month": m, "hours": float(h), "online": float(o)} for m, h, o in report.months],
    }
