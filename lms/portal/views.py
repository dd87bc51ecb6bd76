from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template
from flask_login import login_required

from lms.accounts import queries
from lms.accounts.models import CADRE_CATEGORY_LABELS, RANK_LABELS
from lms.accounts.web import current_scope
from lms.core.web import current_actor
from lms.learning.summary import learner_year

bp = Blueprint("portal", __name__)


@bp.get("/")
@login_required
def home() -> str:
    user = current_actor()
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    scope = current_scope(user)
    admin_counts = (queries.count_orgs(scope), queries.count_users(scope)) if scope.is_admin else None
    return render_template(
        "portal/home.html",
        user=user,
        summary=learner_year(user, year) if user.is_learner else None,
        admin_counts=admin_counts,
        rank_label=RANK_LABELS.get(user.rank) if user.rank else None,  # type: ignore[call-overload]
        category_label=CADRE_CATEGORY_LABELS.get(user.cadre_category) if user.cadre_category else None,  # type: ignore[call-overload]
    )
