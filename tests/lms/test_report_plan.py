"""How a report period is read (lms.reports.plan): whatever mix of year, month and day rows (added or taken
away) the plan picks, every day of the period counts exactly once and no other day counts at all."""

from __future__ import annotations

import calendar
import random
from collections import Counter
from datetime import date, timedelta

import pytest

from lms.reports.plan import Part, plan


def days_of(part: Part) -> list[date]:
    if part.kind == "days":
        assert isinstance(part.first, date) and isinstance(part.last, date)
        return [part.first + timedelta(days=n) for n in range((part.last - part.first).days + 1)]
    assert isinstance(part.first, int) and isinstance(part.last, int)
    if part.kind == "years":
        first, last = date(part.first, 1, 1), date(part.last, 12, 31)
    else:
        first = date(part.first // 100, part.first % 100, 1)
        y, m = divmod(part.last, 100)
        last = date(y, m, calendar.monthrange(y, m)[1])
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def coverage(start: date, end: date, *, years: bool = True) -> Counter[date]:
    counts: Counter[date] = Counter()
    for part in plan(start, end, years=years).parts:
        for day in days_of(part):
            counts[day] += part.sign
    return +counts  # drop zeros


def test_random_periods_count_each_of_their_days_once() -> None:
    rng = random.Random(7)
    for _ in range(400):
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(900))
        end = start + timedelta(days=rng.choice([0, 1, 5, 20, 31, 45, 100, 200, 330, 364, 365, 400, 800]))
        want = Counter(start + timedelta(days=n) for n in range((end - start).days + 1))
        assert coverage(start, end) == want, (start, end)
        assert coverage(start, end, years=False) == want, (start, end)


@pytest.mark.parametrize(
    ("start", "end", "parts"),
    [
        (date(2026, 1, 1), date(2026, 12, 31), [("years", 2026, 2026, 1)]),
        (date(2025, 1, 1), date(2026, 12, 31), [("years", 2025, 2026, 1)]),
        (date(2026, 3, 1), date(2026, 3, 31), [("months", 202603, 202603, 1)]),
        (date(2026, 3, 5), date(2026, 3, 9), [("days", date(2026, 3, 5), date(2026, 3, 9), 1)]),
        # Most of a year: the year less what it leaves out (not 9 months and 39 days of raw rows)
        (date(2026, 1, 15), date(2026, 11, 22), [
            ("years", 2026, 2026, 1), ("days", date(2026, 1, 1), date(2026, 1, 14), -1),
            ("days", date(2026, 11, 23), date(2026, 11, 30), -1), ("months", 202612, 202612, -1),
        ]),
        # Most of a month: the month less its first days
        (date(2026, 2, 4), date(2026, 4, 30), [
            ("months", 202602, 202604, 1), ("days", date(2026, 2, 1), date(2026, 2, 3), -1),
        ]),
    ],
)  # fmt: skip
def test_plans_read_few_rows(start: date, end: date, parts: list[tuple[object, ...]]) -> None:
    got = [(p.kind, p.first, p.last, p.sign) for p in plan(start, end).parts]
    assert sorted(got, key=str) == sorted(parts, key=str)


def test_figures_by_month_use_no_year_rows_and_one_row_per_cadre_is_recognised() -> None:
    parts = plan(date(2026, 1, 15), date(2026, 11, 22), years=False).parts
    assert {p.kind for p in parts} == {"months", "days"}
    assert plan(date(2026, 1, 1), date(2026, 12, 31)).one_row_per_cadre
    assert plan(date(2026, 5, 1), date(2026, 5, 31)).one_row_per_cadre
    assert not plan(date(2026, 5, 1), date(2026, 6, 30)).one_row_per_cadre
    assert not plan(date(2026, 5, 2), date(2026, 5, 31)).one_row_per_cadre
