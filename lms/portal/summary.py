"""The learner's year at a glance.

Targets follow ``domain.md`` (乡科级 and below: 90 学时 a year; 县处级 and above: 550 in 5 years, shown as
the yearly share; 专业技术人员: 72). The learning-hours issue replaces these defaults with admin-editable
rules and fills ``earned`` from the ledger; until then nothing has been credited, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from lms.accounts.models import CadreCategory, Rank, User
from lms.core.i18n import N_

FIVE_YEAR_RANKS = {Rank.BUREAU, Rank.DIVISION}


@dataclass(frozen=True)
class YearSummary:
    year: int
    target_hours: float
    target_rule: str  # English message id describing the rule
    earned_hours: float
    ledger_live: bool

    @property
    def percent(self) -> int:
        if self.target_hours <= 0:
            return 100
        return min(100, round(self.earned_hours * 100 / self.target_hours))

    @property
    def missing_hours(self) -> float:
        return max(0.0, round(self.target_hours - self.earned_hours, 2))


def year_summary(user: User, year: int) -> YearSummary:
    if user.cadre_category == CadreCategory.PROFESSIONAL:
        target, rule = 72.0, N_("72 learning hours a year (professional and technical staff)")
    elif user.rank in FIVE_YEAR_RANKS:
        target, rule = 110.0, N_("550 learning hours in 5 years (110 a year)")
    else:
        target, rule = 90.0, N_("90 learning hours a year")
    return YearSummary(year=year, target_hours=target, target_rule=rule, earned_hours=0.0, ledger_live=False)
