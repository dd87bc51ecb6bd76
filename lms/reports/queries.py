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
  category, then rank; lowest id on a tie; 90 when no rule matches), as one CASE over the rules that can
  apply in the subtree, most specific first. For a whole calendar year the target is the yearly hours;
  for any other period it is prorated: hours x days / 365 (rounded to 0.01).
- **达标 (reached)**: net hours >= the (prorated) target and net 必修 hours >= the (prorated) 必修 target
  (the rule's ``required_hours``, 0 by default). **达标率** = reached / cadres.
- **Category**: a ledger row's category rolled up to its top-level category (理论教育 THEORY, 党性教育
  PARTY_SPIRIT, 专业化能力 PROFESSIONAL, 知识培训 KNOWLEDGE); rows without one count as "other".

How it is read: not row by row from ``ledger_entries`` but from the per-cadre summaries by year and by
month (``lms.reports.models``, kept by triggers), with raw ledger rows only for the days of partial months;
``lms.reports.plan`` picks the cheapest mix (e.g. a year less the days it leaves out). Sums are in
centi-hours (exact integers) until they become Decimals here.
"""

from __future__ import annotations

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
from lms.core.db import UTCDateTime, db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.learning.models import TargetRule
from lms.reports import summary
from lms.reports.models import SUMMARY_COLUMNS
from lms.reports.plan import Plan, plan

CHINA = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
ZERO = Decimal("0")
FALLBACK_TARGET = Decimal("90")  # lms.learning.targets.FALLBACK
CATEGORY_FIELDS = ("theory", "party", "professional", "knowledge", "other")
SOURCE_FIELDS = ("online_course", "test", "class", "offline_claim")
MAX_PERIOD_DAYS = 5 * 366
WORK_MEM = "64MB"  # per hash/sort of a report statement (PostgreSQL)


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


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


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


def _rows_sql(
    parts: Plan, keys: dict[str, tuple[str, str]], values: dict[str, tuple[str, str]], joins: str
) -> str:
    """The period's rows as a UNION ALL: for each part of the plan the summary rows (alias ``s``) or the
    raw ledger rows (alias ``e``), with ``keys`` and ``values`` (name: (expression over s, over e)); a part
    taken away has its values negated. ``joins`` may refer to ``{t}``, the table's alias."""
    tables = {"years": ("ledger_year_totals s", "s.year"), "months": ("ledger_month_totals s", "s.month")}
    groups: dict[tuple[str, int, int], list[int]] = {}
    for i, part in enumerate(parts.parts):
        # Summary parts of a kind and sign read together; raw day ranges one by one (each an index range)
        groups.setdefault((part.kind, part.sign, i if part.kind == "days" else -1), []).append(i)
    selects = []
    for (kind, sign, _), numbers in groups.items():
        raw = kind == "days"
        alias = "e" if raw else "s"
        column = "e.created_at" if raw else tables[kind][1]
        upper = "<" if raw else "<="
        ranges = " OR ".join(f"({column} >= :p{i}_lo AND {column} {upper} :p{i}_hi)" for i in numbers)
        names = [f"{keys[k][raw]} AS {k}" for k in keys]
        names += [f"{'-' if sign < 0 else ''}({values[v][raw]}) AS {v}" for v in values]
        table = "ledger_entries e" if raw else tables[kind][0]
        selects.append(f"SELECT {', '.join(names)} FROM {table} {joins.format(t=alias)} WHERE {ranges}")  # noqa: S608
    return "\nUNION ALL\n".join(selects)


def _ledger_cte(org: Organization, period: Period, *, everyone: bool) -> str:
    """Per member: the net sums (centi-hours) of the period, from the summaries and the raw ledger. Under
    a root org (nearly every cadre is a member) summing everyone's rows and leaving the non-members out
    afterwards is faster than joining each row to the members first."""
    parts = period_plan(period)
    amounts = summary.amounts_sql("e")
    rows = _rows_sql(
        parts,
        {"user_id": ("s.user_id", "e.user_id")},
        {c: (f"s.{c}", amounts[c]) for c in SUMMARY_COLUMNS},
        "" if everyone else "JOIN members m ON m.user_id = {t}.user_id",
    )
    if parts.one_row_per_cadre:
        return rows
    sums = ", ".join(f"SUM(x.{c}) AS {c}" for c in SUMMARY_COLUMNS)
    return f"SELECT x.user_id, {sums} FROM ({rows}) x GROUP BY x.user_id"  # noqa: S608


def period_plan(period: Period, *, years: bool = True) -> Plan:
    return plan(period.start, period.end, years=years)


def _child_sql() -> str:
    """The id of the report org's child whose subtree holds the member's org (NULL: the org itself), from
    the path after ``:prefix`` (``:child_from`` is where that rest starts)."""
    rest = "substr(o.path, :child_from)"
    if db.session.get_bind().dialect.name == "postgresql":
        child = f"split_part({rest}, '/', 1)"
    else:
        child = f"substr({rest}, 1, instr({rest}, '/') - 1)"
    return f"CAST(NULLIF({child}, '') AS INTEGER)"


def _rule_case(org: Organization) -> tuple[str, dict[str, Any]]:
    """A CASE giving a member's target rule id (NULL: none matches): the rules that can apply in the org's
    subtree, most specific first (org depth, then cadre category, then rank; lowest id on a tie), as
    ``lms.learning.targets`` picks them."""
    rules = db.session.execute(
        select(
            TargetRule.id,
            TargetRule.rank,
            TargetRule.cadre_category,
            Organization.path,
            Organization.depth,
        ).outerjoin(Organization, Organization.id == TargetRule.org_id)
    ).all()
    ranked = sorted(
        (r for r in rules if r.path is None or org.path.startswith(r.path) or r.path.startswith(org.path)),
        key=lambda r: (
            -(r.depth + 1 if r.path is not None else 0),
            -(r.cadre_category is not None),
            -(r.rank is not None),
            r.id,
        ),
    )
    whens, params = [], {}
    for n, rule in enumerate(ranked):
        conditions = []
        if rule.path is not None:
            conditions.append(f"o.path LIKE :rule{n}_path")
            params[f"rule{n}_path"] = rule.path + "%"
        if rule.rank is not None:
            conditions.append(f"u.rank = :rule{n}_rank")
            params[f"rule{n}_rank"] = rule.rank
        if rule.cadre_category is not None:
            conditions.append(f"u.cadre_category = :rule{n}_category")
            params[f"rule{n}_category"] = rule.cadre_category
        whens.append(f"WHEN {' AND '.join(conditions) or '1 = 1'} THEN {int(rule.id)}")
        if not conditions:
            break  # matches everyone: nothing after it is reached
    return (f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS INTEGER)"), params


def _per_user(org: Organization, period: Period, *, user_id: int | None = None) -> tuple[str, dict[str, Any]]:
    """CTEs ``members`` (the subtree's cadres with their target rule) and ``scored`` (one row per member:
    net centi-hours by use, source and category in the period, the prorated targets in centi-hours,
    reached), and their parameters. ``user_id``: that member only."""
    rule, params = _rule_case(org)
    one = "" if user_id is None else " AND u.id = :member_id"
    if user_id is not None:
        params["member_id"] = user_id
    picked = ",\n".join(f"COALESCE(l.{c}, 0) AS {c}" for c in SUMMARY_COLUMNS)
    sql = f"""
WITH members AS (
    SELECT u.id AS user_id, u.org_id, u.rank, {rule} AS rule_id, {_child_sql()} AS child_id
    FROM users u JOIN organizations o ON o.id = u.org_id
    WHERE o.path LIKE :prefix AND u.is_active AND u.is_learner{one}
),
ledger AS (
{_ledger_cte(org, period, everyone=org.parent_id is None and user_id is None)}
),
per_user AS (
    SELECT m.user_id, m.org_id, m.rank, m.child_id,
{picked},
           CAST(ROUND(COALESCE(tr.hours_per_year, {FALLBACK_TARGET}) * CAST(:factor AS NUMERIC) * 100)
                AS INTEGER) AS target,
           CAST(ROUND(COALESCE(tr.required_hours, 0) * CAST(:factor AS NUMERIC) * 100)
                AS INTEGER) AS required_target
    FROM members m
    LEFT JOIN ledger l ON l.user_id = m.user_id
    LEFT JOIN target_rules tr ON tr.id = m.rule_id
),
scored AS (
    SELECT p.*,
           CASE WHEN p.total >= p.target AND p.required >= p.required_target THEN 1 ELSE 0 END AS reached
    FROM per_user p
)
"""  # noqa: S608 (every query here is built from constants and integer ids; values are bound)
    return sql, _params(org, period) | params


def _plan_params(parts: Plan) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, part in enumerate(parts.parts):
        params[f"p{i}_lo"], params[f"p{i}_hi"] = part.bounds
    return params


def _params(org: Organization, period: Period) -> dict[str, Any]:
    return {
        "prefix": org.path + "%",
        "child_from": len(org.path) + 1,
        "factor": str(period.factor),
    } | _plan_params(period_plan(period))


def _run(sql: str, params: dict[str, Any], **options: Any) -> Any:
    """Execute a report statement. On PostgreSQL, for the rest of the transaction: no JIT (compiling these
    statements took longer than running them), room to hash the subtree's cadres in memory, and a plan
    for the actual subtree even once the driver has prepared the statement."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text(
                "SELECT set_config('jit', 'off', true), set_config('work_mem', :work_mem, true),"
                " set_config('plan_cache_mode', 'force_custom_plan', true)"
            ),
            {"work_mem": WORK_MEM},
        )
    return db.session.execute(_typed(sql, params), params, **options)


def _typed(sql: str, params: dict[str, Any]) -> TextClause:
    """The statement, with datetime parameters bound as UTC datetimes."""
    names = [n for n, v in params.items() if isinstance(v, datetime) and f":{n}" in sql]
    return text(sql).bindparams(*(bindparam(n, type_=UTCDateTime()) for n in names))


def _from_cents(value: object) -> Decimal:
    return (Decimal(int(value or 0)) / 100).quantize(CENT)


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


def _figures_by_child_rank(org: Organization, period: Period) -> dict[tuple[int | None, str], Figures]:
    """Figures by (child of the org whose subtree the cadres are in, or None for the org's own; rank)."""
    per_user, params = _per_user(org, period)
    sql = (
        per_user
        + f"""
SELECT s.child_id, COALESCE(s.rank, '') AS rank,
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
GROUP BY s.child_id, COALESCE(s.rank, '')
"""  # noqa: S608
    )
    result: dict[tuple[int | None, str], Figures] = {}
    for row in _run(sql, params).mappings():
        result[(row["child_id"], row["rank"])] = Figures(
            cadres=int(row["cadres"]),
            participants=int(row["participants"] or 0),
            online_participants=int(row["online_participants"] or 0),
            reached=int(row["reached"] or 0),
            hours=_from_cents(row["hours"]),
            required=_from_cents(row["required"]),
            target=_from_cents(row["target"]),
            behind_hours=_from_cents(row["behind"]),
            by_source={x: _from_cents(row[f"src_{x}"]) for x in SOURCE_FIELDS},
            by_category={c: _from_cents(row[f"cat_{c}"]) for c in CATEGORY_FIELDS},
        )
    return result


def _months(org: Organization, period: Period) -> list[tuple[str, Decimal, Decimal]]:
    """Net and online hours by month. Under a root org: everyone's sums less the few non-members' (an
    inactive account, an admin who is no learner), which reads no user row for most summary rows."""
    parts = period_plan(period, years=False)
    cents = summary.cents_sql("e")
    member = "o.path LIKE :prefix AND u.is_active AND u.is_learner"
    users = "JOIN users u ON u.id = {t}.user_id JOIN organizations o ON o.id = u.org_id"
    keys = {"month": ("s.month", summary.month_sql("e.created_at"))}
    online = f"CASE WHEN e.source_kind IN ('online_course', 'test') THEN {cents} ELSE 0 END"
    values = {"total": ("s.total", cents), "online": ("s.src_online_course + s.src_test", online)}
    if org.parent_id is None:
        everyone = _rows_sql(parts, keys, values, "")
        others = _rows_sql(
            parts,
            keys,
            {k: (f"-({a})", f"-({b})") for k, (a, b) in values.items()},
            f"{users} AND NOT ({member})",
        )
        rows_sql = f"{everyone}\nUNION ALL\n{others}"
    else:
        rows_sql = _rows_sql(parts, keys, values, f"{users} AND {member}")
    sql = f"SELECT x.month, SUM(x.total), SUM(x.online) FROM ({rows_sql}) x GROUP BY x.month"  # noqa: S608
    params = {"prefix": org.path + "%"} | _plan_params(parts)
    rows = _run(sql, params).all()
    found = {f"{m // 100:04d}-{m % 100:02d}": (_from_cents(h), _from_cents(o)) for m, h, o in rows}
    months, cursor = [], date(period.start.year, period.start.month, 1)
    while cursor <= period.end:
        key = cursor.strftime("%Y-%m")
        hours, online = found.get(key, (ZERO, ZERO))
        months.append((key, hours, online))
        cursor = _next_month(cursor)
    return months


def unit_report(org: Organization, period: Period, *, with_months: bool = True) -> UnitReport:
    """The org's figures and one row per child unit (its whole subtree rolled up), ranked among siblings by
    hours per cadre; cadres attached to the org itself get a row of their own."""
    cells = _figures_by_child_rank(org, period)
    children = list(
        db.session.scalars(
            select(Organization).where(Organization.parent_id == org.id).order_by(Organization.id)
        )
    )
    by_child: dict[int, Figures] = {c.id: Figures() for c in children}
    own, total = Figures(), Figures()
    by_rank: dict[str, Figures] = {}
    for (child_id, rank), figures in cells.items():
        total.add(figures)
        by_rank.setdefault(rank, Figures()).add(figures)
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


def _cadre_sql(org: Organization, period: Period, behind: bool, order: str) -> tuple[str, dict[str, Any]]:
    """Cadre rows (``:user_id`` in the parameters: that cadre's only)."""
    per_user, params = _per_user(org, period)
    conditions = ["s.reached = 0"] if behind else []
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    orders = {
        "missing": "missing DESC, s.user_id",
        "hours": "s.total DESC, s.user_id",
        "name": "u.display_name, s.user_id",
        "unit": "o.path, s.user_id",
    }
    sql = (
        per_user
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
    return sql, params


def _cadre_row(row: Any) -> CadreRow:
    return CadreRow(
        user_id=row[0],
        name=row[1],
        login_name=row[2],
        org_id=row[3],
        org_name=row[4],
        rank=row[5],
        cadre_category=row[6],
        hours=_from_cents(row[7]),
        required=_from_cents(row[8]),
        online=_from_cents(row[9]),
        offline=_from_cents(row[10]),
        target=_from_cents(row[11]),
        required_target=_from_cents(row[12]),
        reached=bool(row[13]),
    )


def cadre_page(
    org: Organization, period: Period, *, behind: bool, page: int, per_page: int, order: str = "missing"
) -> tuple[list[CadreRow], int]:
    """One page of the subtree's cadres (``behind``: only those short of their target) and the count."""
    sql, params = _cadre_sql(org, period, behind, order)
    rows = _run(
        sql + " LIMIT :limit OFFSET :offset", params | {"limit": per_page, "offset": (page - 1) * per_page}
    ).all()
    per_user, params = _per_user(org, period)
    where = " WHERE s.reached = 0" if behind else ""
    count_sql = f"{per_user} SELECT COUNT(*) FROM scored s{where}"  # noqa: S608
    total = int(_run(count_sql, params).scalar() or 0)
    return [_cadre_row(r) for r in rows], total


def iter_cadres(
    org: Organization, period: Period, *, behind: bool, order: str = "unit", batch: int = 2000
) -> Iterator[CadreRow]:
    """Every cadre of the subtree, streamed (server-side cursor on PostgreSQL) for exports."""
    sql, params = _cadre_sql(org, period, behind, order)
    result = _run(sql, params, execution_options={"stream_results": True, "yield_per": batch})
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


def ranking(
    org: Organization, period: Period, *, limit: int, user_id: int
) -> tuple[list[tuple[int, int, str, str, Decimal]], int]:
    """学习排行 for a cadre: (place, user id, name, unit, net hours) of the top ``limit`` cadres with hours
    in the subtree and of the cadre (if ranked), and how many are ranked."""
    per_user, params = _per_user(org, period)
    sql = f"""{per_user},
ranked AS (
    SELECT s.user_id, s.total, ROW_NUMBER() OVER (ORDER BY s.total DESC, s.user_id) AS place,
           COUNT(*) OVER () AS ranked
    FROM scored s WHERE s.total > 0
)
SELECT r.place, r.user_id, u.display_name, o.name, r.total, r.ranked
FROM ranked r JOIN users u ON u.id = r.user_id JOIN organizations o ON o.id = u.org_id
WHERE r.place <= :limit OR r.user_id = :user_id
ORDER BY r.place
"""  # noqa: S608
    rows = _run(sql, params | {"limit": limit, "user_id": user_id}).all()
    places = [(int(p), uid, name, unit, _from_cents(total)) for p, uid, name, unit, total, _ in rows]
    return places, int(rows[0][5]) if rows else 0


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
    """One cadre's row (None unless they are a cadre in ``org``'s subtree)."""
    per_user, params = _per_user(org, period, user_id=user_id)
    sql = (
        per_user
        + """
SELECT s.user_id, u.display_name, u.login_name, s.org_id, o.name AS org_name, s.rank, u.cadre_category,
       s.total, s.required, s.src_online_course + s.src_test AS online,
       s.src_class + s.src_offline_claim AS offline, s.target, s.required_target, s.reached
FROM scored s JOIN users u ON u.id = s.user_id JOIN organizations o ON o.id = s.org_id
WHERE s.user_id = :user_id
"""
    )
    row = _run(sql, params | {"user_id": user_id}).first()
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
