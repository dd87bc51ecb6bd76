"""The monthly ledger summary (``ledger_month_totals``, see ``lms.reports.models``): the SQL the reports and
the rebuild share, recomputing it from ``ledger_entries``, and checking that it has not drifted.

The triggers of migration ``r7summary001`` keep the summary as ledger rows are written. This module computes
the same sums independently (a CASE over the category tree built here instead of the triggers' lookups), so
``check_summary`` comparing the two catches a trigger that is missing or wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, text

from lms.catalog.models import Category
from lms.core.db import db
from lms.reports.models import SUMMARY_COLUMNS

CATEGORY_KEYS = {
    "THEORY": "theory",
    "PARTY_SPIRIT": "party",
    "PROFESSIONAL": "professional",
    "KNOWLEDGE": "knowledge",
}
SOURCES = ("online_course", "test", "class", "offline_claim")
# How deep categories may nest and still roll up to their top-level one (the triggers look four levels up;
# deeper ones count as "other" everywhere, so the summary and the raw ledger always agree).
MAX_CATEGORY_DEPTH = 4


def category_case(column: str = "e.category_id") -> str:
    """A CASE expression naming the top-level category key (theory, party, …, other) of ``column``."""
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.code)).all()
    parent = {cid: pid for cid, pid, _ in rows}
    code = {cid: c for cid, _, c in rows}
    members: dict[str, list[int]] = defaultdict(list)
    for cid in parent:
        top, depth = cid, 1
        while parent.get(top) is not None and depth < MAX_CATEGORY_DEPTH:
            top, depth = parent[top], depth + 1
        key = CATEGORY_KEYS.get(code.get(top) or "") if parent.get(top) is None else None
        if key:
            members[key].append(cid)
    whens = " ".join(
        f"WHEN {column} IN ({', '.join(str(i) for i in sorted(ids))}) THEN '{key}'"
        for key, ids in sorted(members.items())
        if ids
    )
    return f"CASE {whens} ELSE 'other' END" if whens else "'other'"


def month_sql(column: str = "e.created_at") -> str:
    """YYYYMM (an integer) of a UTC timestamp column in Asia/Shanghai."""
    if db.session.get_bind().dialect.name == "postgresql":
        return f"CAST(to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYYMM') AS INTEGER)"
    # SQLite keeps naive UTC text; China has had no daylight saving time since 1991.
    return f"CAST(strftime('%Y%m', {column}, '+8 hours') AS INTEGER)"


def cents_sql(alias: str = "e") -> str:
    """A ledger row's hours in centi-hours."""
    return f"CAST(ROUND({alias}.hours * 100) AS INTEGER)"


def amounts_sql(alias: str = "e", category: str | None = None) -> dict[str, str]:
    """Each summary column's amount (centi-hours) for one ledger row ``alias``; ``category`` is the row's
    top-level category key (default: ``category_case`` of its category_id)."""
    cents = cents_sql(alias)
    cat = category or category_case(f"{alias}.category_id")
    values = {
        "total": cents,
        "required": f"CASE WHEN {alias}.use = 'required' THEN {cents} ELSE 0 END",
    }
    for source in SOURCES:
        values[f"src_{source}"] = f"CASE WHEN {alias}.source_kind = '{source}' THEN {cents} ELSE 0 END"
    for key in (*CATEGORY_KEYS.values(), "other"):
        values[f"cat_{key}"] = f"CASE WHEN {cat} = '{key}' THEN {cents} ELSE 0 END"
    return values


# (table, key column, the key of a ledger row given its YYYYMM)
GRAINS = (
    ("ledger_month_totals", "month", "{month}"),
    ("ledger_year_totals", "year", "{month} / 100"),
)


def _recomputed_sql(key: str) -> str:
    """(user_id, key, entries, sums…) recomputed from the ledger; ``key`` is a GRAINS key expression."""
    amounts = amounts_sql("e", "e.cat")
    sums = ", ".join(f"SUM({amounts[c]}) AS {c}" for c in SUMMARY_COLUMNS)
    grain = key.format(month="e.month")
    return f"""
SELECT e.user_id, {grain} AS k, COUNT(*) AS entries, {sums}
FROM (SELECT l.*, {month_sql("l.created_at")} AS month, {category_case("l.category_id")} AS cat
      FROM ledger_entries l) e
GROUP BY e.user_id, {grain}"""  # noqa: S608 (built from constants and integer ids)


@dataclass(frozen=True)
class Drift:
    table: str
    rows: int  # in the table
    recomputed: int  # (cadre, month or year) keys the ledger has
    differing: int  # keys whose sums differ, or that only one side has

    @property
    def ok(self) -> bool:
        return self.differing == 0


def _count(sql: str) -> int:
    return int(db.session.execute(text(f"SELECT COUNT(*) FROM ({sql}) c")).scalar() or 0)  # noqa: S608


def check_summary() -> list[Drift]:
    """Compare each summary table with a recomputation from the ledger, key by key."""
    found = []
    for table, column, key in GRAINS:
        columns = ", ".join(("user_id", column, "entries", *SUMMARY_COLUMNS))
        sums = ", ".join(("user_id", "k", "entries", *SUMMARY_COLUMNS))
        recomputed = f"SELECT {sums} FROM ({_recomputed_sql(key)}) r"  # noqa: S608
        stored = f"SELECT {columns} FROM {table}"  # noqa: S608
        differing = f"""
SELECT user_id, {column} FROM ({stored} EXCEPT {recomputed}) a
UNION
SELECT user_id, k FROM ({recomputed} EXCEPT {stored}) b"""  # noqa: S608
        found.append(Drift(table, _count(stored), _count(recomputed), _count(differing)))
    return found


def rebuild_summary() -> dict[str, int]:
    """Recompute the summary tables from the ledger in the current transaction (the caller commits);
    ledger writes wait meanwhile (PostgreSQL: a SHARE lock on ledger_entries; SQLite: one writer anyway).
    Returns each table's row count."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE ledger_entries IN SHARE MODE"))
    counts = {}
    names = ", ".join(("entries", *SUMMARY_COLUMNS))
    for table, column, key in GRAINS:
        db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        insert = f"INSERT INTO {table} (user_id, {column}, {names})"
        db.session.execute(text(f"{insert} SELECT user_id, k, {names} FROM ({_recomputed_sql(key)}) r"))  # noqa: S608
        counts[table] = _count(f"SELECT 1 FROM {table}")  # noqa: S608
    return counts
