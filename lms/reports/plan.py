"""How a report period is read: a signed sum of ledger summary rows (whole years, whole months) and raw
ledger rows (days), chosen to read as few rows as possible.

Any period of whole days equals, for each calendar year it touches, either the months and days it covers
(a partial month read as its days, or as the whole month less the days outside the period, whichever is
fewer), or the whole year less the months and days it leaves out. The summaries equal the ledger exactly
(triggers, in centi-hours), so subtracting is exact. Example: 15 January – 22 November is
``year − (1–14 January) − (23–30 November) − December`` rather than 9 months and 39 days of raw rows.

Rough relative sizes, per cadre: a year row 18, a month row 14 (most cadres study in most months), a
day of raw ledger rows 1 (about 20 rows a cadre a year).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
YEAR_COST, MONTH_COST, DAY_COST = 18, 14, 1


@dataclass(frozen=True)
class Part:
    kind: str  # "years" (YYYY..YYYY), "months" (YYYYMM..YYYYMM) or "days" (first..last day)
    first: int | date
    last: int | date
    sign: int  # +1: add these rows, -1: take them away

    @property
    def bounds(self) -> tuple[object, object]:
        """What the SQL compares with: both ends included for years and months; for days the half-open
        UTC range from the first day's midnight in China to the midnight after the last."""
        if self.kind == "days":
            assert isinstance(self.first, date) and isinstance(self.last, date)
            return _utc(self.first), _utc(self.last + timedelta(days=1))
        return self.first, self.last


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]

    @property
    def one_row_per_cadre(self) -> bool:
        """Whether the period is exactly one summary row per cadre (one year, or one month)."""
        if len(self.parts) != 1:
            return False
        (part,) = self.parts
        return part.kind != "days" and part.sign > 0 and part.first == part.last

    @property
    def cost(self) -> int:
        return sum(_cost(p) for p in self.parts)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA).astimezone(UTC)


def _ym(day: date) -> int:
    return day.year * 100 + day.month


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def _cost(part: Part) -> int:
    if part.kind == "days":
        assert isinstance(part.first, date) and isinstance(part.last, date)
        return DAY_COST * ((part.last - part.first).days + 1)
    assert isinstance(part.first, int) and isinstance(part.last, int)
    if part.kind == "years":
        return YEAR_COST * (part.last - part.first + 1)
    return MONTH_COST * ((part.last // 100 - part.first // 100) * 12 + part.last % 100 - part.first % 100 + 1)


def _next(month: int) -> int:
    return month + 1 if month % 100 < 12 else month + 89


def _merge(parts: list[Part]) -> list[Part]:
    """Join adjacent whole months (and whole years) of the same sign into ranges."""
    merged: list[Part] = []
    for part in sorted(parts, key=lambda p: (p.kind != "days", p.kind, p.sign, str(p.first))):
        last = merged[-1] if merged else None
        if (
            last is not None
            and part.kind == last.kind != "days"
            and part.sign == last.sign
            and isinstance(last.last, int)
            and part.first == (_next(last.last) if part.kind == "months" else last.last + 1)
        ):
            merged[-1] = Part(part.kind, last.first, part.last, part.sign)
        else:
            merged.append(part)
    return merged


def _span(first: date, last: date, sign: int) -> list[Part]:
    """Days ``first``..``last`` (within one year) as whole months and, for a partial month, its days or
    the month less the days outside (whichever reads fewer rows)."""
    parts: list[Part] = []
    cursor = date(first.year, first.month, 1)
    while cursor <= last:
        end = _month_end(cursor)
        lo, hi = max(first, cursor), min(last, end)
        if lo == cursor and hi == end:
            parts.append(Part("months", _ym(cursor), _ym(cursor), sign))
        else:
            inside = (hi - lo).days + 1
            outside = (end - cursor).days + 1 - inside
            if inside * DAY_COST <= MONTH_COST + outside * DAY_COST:
                parts.append(Part("days", lo, hi, sign))
            else:
                parts.append(Part("months", _ym(cursor), _ym(cursor), sign))
                if cursor < lo:
                    parts.append(Part("days", cursor, lo - timedelta(days=1), -sign))
                if hi < end:
                    parts.append(Part("days", hi + timedelta(days=1), end, -sign))
        cursor = end + timedelta(days=1)
    return parts


def plan(start: date, end: date, *, years: bool = True) -> Plan:
    """The parts of ``start``..``end`` (both included). ``years=False``: no year rows (figures by month
    need rows that each fall in one month)."""
    parts: list[Part] = []
    for year in range(start.year, end.year + 1):
        first, last = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
        direct = _span(first, last, +1)
        if years:
            whole = [Part("years", year, year, +1)]
            if first > date(year, 1, 1):
                whole += _span(date(year, 1, 1), first - timedelta(days=1), -1)
            if last < date(year, 12, 31):
                whole += _span(last + timedelta(days=1), date(year, 12, 31), -1)
            if Plan(tuple(whole)).cost < Plan(tuple(direct)).cost:
                direct = whole
        parts += direct
    return Plan(tuple(_merge(parts)))
