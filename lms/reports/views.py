"""Report pages (ECharts) for administrators: a unit's children rolled up (drill down by org id), the
cadres of a unit (and those behind target), one cadre's ledger rows, 学习排行, and exports.

Chart data goes in a ``<script type="application/json">`` block read by ``js/reports.js`` (CSP: no inline
scripts or styles)."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from lms.accounts.models import CADRE_CATEGORY_LABELS, ORG_KIND_LABELS, RANK_LABELS, Organization, User
from lms.accounts.web import current_scope
from lms.core.db import db
from lms.core.errors import LmsError, NotFound, ValidationFailed
from lms.core.web import current_actor, error_text, page_args
from lms.media.storage import get_storage
from lms.reports import leaderboard as boards
from lms.reports import queries, tasks

bp = Blueprint("reports", __name__, url_prefix="/reports")

SOURCE_LABELS = {
    "online_course": "网络课程",
    "test": "在线考试",
    "class": "专题班",
    "offline_claim": "线下登记",
}
CATEGORY_LABELS = {
    "theory": "理论教育",
    "party": "党性教育",
    "professional": "专业化能力",
    "knowledge": "知识培训",
    "other": "其他",
}
KIND_LABELS = {"credit": "计入", "correction": "更正", "revocation": "撤销"}


def _period() -> queries.Period:
    return queries.parse_period(request.args.get("from"), request.args.get("to"))


def _root(org_id: int | None) -> Organization:
    return queries.report_root(current_scope(current_actor()), org_id)


def _common(org: Organization, period: queries.Period) -> dict[str, Any]:
    return {
        "org": org,
        "period": period,
        "span": period.as_json(),
        "crumbs": queries.breadcrumbs(current_scope(current_actor()), org),
        "kind_labels": ORG_KIND_LABELS,
        "rank_labels": RANK_LABELS,
        "category_labels": CADRE_CATEGORY_LABELS,
    }


@bp.get("/")
@login_required
def index() -> str:
    raw = request.args.get("org_id", "")
    org = _root(int(raw) if raw.isdigit() else None if not raw else -1)
    period = _period()
    report = queries.unit_report(org, period)
    charts = {
        "months": [{"month": m, "hours": float(h), "online": float(o)} for m, h, o in report.months],
        "categories": [
            {"name": CATEGORY_LABELS[k], "value": float(v)} for k, v in report.total.by_category.items() if v
        ],
        "units": [
            {"name": r.org.name, "value": float(r.figures.hours_per_cadre or 0)}
            for r in report.rows
            if not r.own and r.figures.cadres
        ],
        "labels": {
            "hours": gettext("Net hours"),
            "online": gettext("Online hours"),
            "per_cadre": gettext("Hours per cadre"),
        },
    }
    return render_template(
        "reports/index.html",
        report=report,
        charts=charts,
        source_labels=SOURCE_LABELS,
        cat_labels=CATEGORY_LABELS,
        **_common(org, period),
    )


@bp.get("/units/<int:org_id>/cadres")
@login_required
def cadres(org_id: int) -> str:
    org = _root(org_id)
    period = _period()
    args = page_args(default_per_page=50, max_per_page=200)
    behind = request.args.get("behind", "") == "1"
    rows, total = queries.cadre_page(org, period, behind=behind, page=args.page, per_page=args.per_page)
    return render_template(
        "reports/cadres.html",
        rows=rows,
        total=total,
        behind=behind,
        page=args.page,
        pages=max(1, (total + args.per_page - 1) // args.per_page),
        per_page=args.per_page,
        **_common(org, period),
    )


@bp.get("/units/<int:org_id>/leaderboard")
@login_required
def leaderboard(org_id: int) -> str:
    org = _root(org_id)
    period = _period()
    switch = boards.leaderboard_switch(org)
    return render_template(
        "reports/leaderboard.html",
        rows=queries.leaderboard(org, period, 50) if switch.enabled else [],
        switch=switch,
        **_common(org, period),
    )


@bp.post("/units/<int:org_id>/leaderboard/switch")
@login_required
def switch_leaderboard(org_id: int) -> Response:
    org = _root(org_id)
    target = url_for("reports.leaderboard", org_id=org.id)
    try:
        enabled = boards.parse_setting(request.form.get("enabled", ""))
        switch = boards.set_leaderboard(
            actor=current_actor(), org=org, enabled=enabled, now=datetime.now(UTC)
        )
    except ValidationFailed as error:
        flash(error_text(error), "error")
        return redirect(target)
    db.session.commit()
    flash(
        gettext("The leaderboard is now shown for this unit.")
        if switch.enabled
        else gettext("The leaderboard is now hidden for this unit."),
        "success",
    )
    return redirect(target)


@bp.get("/my-leaderboard")
@login_required
def my_leaderboard() -> str:
    user = current_actor()
    return render_template("reports/my_leaderboard.html", board=boards.my_leaderboard(user), user=user)


@bp.app_template_global("learner_leaderboard")
def learner_leaderboard(user: User) -> boards.MyBoard | None:
    """For the home page: the cadre's unit leaderboard this year, or None when it is switched off."""
    return boards.my_leaderboard(user)


@bp.get("/cadres/<int:user_id>")
@login_required
def cadre(user_id: int) -> str:
    scope = current_scope(current_actor())
    user = db.session.get(User, user_id) if 0 < user_id <= 2**31 - 1 else None
    if user is None or not scope.is_admin or not scope.covers(user.org):
        raise NotFound()
    period = _period()
    return render_template(
        "reports/cadre.html",
        user=user,
        figures=queries.cadre_figures(user.org, user.id, period),
        entries=queries.cadre_entries(user.id, period),
        source_labels=SOURCE_LABELS,
        entry_kinds=KIND_LABELS,
        china=queries.CHINA,
        **_common(user.org, period),
    )


@bp.get("/units/<int:org_id>/units.xlsx")
@login_required
def units_xlsx(org_id: int) -> Response:
    """The units table (at most the org's children plus a total): small, so written at once."""
    org = _root(org_id)
    period = _period()
    report = queries.unit_report(org, period, with_months=False)
    with tempfile.TemporaryDirectory(prefix="lms-report-") as folder:
        path = Path(folder) / "units.xlsx"
        tasks.write_xlsx(path, "单位统计", tasks.UNIT_HEADINGS, tasks.unit_rows(report))
        data = io.BytesIO(path.read_bytes())
    response = Response(data.getvalue(), mimetype=tasks.XLSX)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=units-{org.id}-{period.start}-{period.end}.xlsx"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/exports")
@login_required
def exports() -> str:
    actor = current_actor()
    if not current_scope(actor).is_admin:
        raise NotFound()
    return render_template("reports/exports.html", jobs=tasks.list_exports(get_storage(), actor.id))


@bp.post("/exports")
@login_required
def start_export() -> Response:
    actor = current_actor()
    raw = request.form.get("org_id", "")
    try:
        period = queries.parse_period(request.form.get("from"), request.form.get("to"))
        tasks.create_export(
            actor=actor,
            report=request.form.get("report"),
            org_id=int(raw) if raw.isdigit() else -1,
            period=period,
        )
    except NotFound:
        raise
    except LmsError as error:
        flash(error_text(error), "error")
        return redirect(url_for("reports.exports"))
    flash(gettext("The export has started; it will be ready to download below."), "success")
    return redirect(url_for("reports.exports"))
