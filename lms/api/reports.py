"""``/api/v1/reports``: unit reports rolled up the org tree.

    GET  /units?org_id=&from=&to=        the org and each child's subtree (see lms.reports.queries)
    GET  /units/<org_id>/cadres?behind=1&page=&per_page=&order=missing|hours|name|unit
    GET  /units/<org_id>/leaderboard?from=&to=&limit=   学习排行 (empty, enabled: false, when switched off)
    PUT  /units/<org_id>/leaderboard/setting {enabled: true|false|null}   switch it for the subtree (null:
         follow the unit above); audited
    GET  /my-leaderboard                          a cadre's own unit this year: top 20 and their place
    GET  /cadres/<user_id>?from=&to=             one cadre's figures and ledger rows in the period
    GET  /exports                                 the caller's recent exports
    POST /exports {report: units|cadres|behind, org_id, from, to}  -> 202 {id, status, progress, download_url}
    GET  /exports/<id>, GET /exports/<id>/download

Only orgs inside the caller's admin scope exist here: anything else (and any non-admin) gets 404; only
/my-leaderboard is for every cadre.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context, url_for

from lms.accounts.models import User
from lms.accounts.web import current_scope
from lms.api.v1 import authenticate_bearer
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.web import current_actor, json_body, page_args
from lms.media.storage import get_storage
from lms.reports import leaderboard as boards
from lms.reports import queries, tasks

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1/reports")
bp.before_request(authenticate_bearer)


def _period() -> queries.Period:
    return queries.parse_period(request.args.get("from"), request.args.get("to"))


def _org(org_id: int | None) -> Any:
    return queries.report_root(current_scope(current_actor()), org_id)


@bp.get("/units")
def units() -> Response:
    raw = request.args.get("org_id", "")
    org = _org(int(raw) if raw.isdigit() else None if not raw else -1)
    return jsonify(queries.unit_report_json(queries.unit_report(org, _period())))


@bp.get("/units/<int:org_id>/cadres")
def cadres(org_id: int) -> Response:
    org = _org(org_id)
    period = _period()
    args = page_args(default_per_page=50, max_per_page=500)
    behind = request.args.get("behind", "") in ("1", "true", "yes")
    rows, total = queries.cadre_page(
        org,
        period,
        behind=behind,
        page=args.page,
        per_page=args.per_page,
        order=request.args.get("order", ""),
    )
    return jsonify(
        org=queries.org_ref(org),
        period=period.as_json(),
        behind=behind,
        items=[r.as_json() for r in rows],
        total=total,
        page=args.page,
        per_page=args.per_page,
        pages=(total + args.per_page - 1) // args.per_page,
    )


@bp.get("/units/<int:org_id>/leaderboard")
def leaderboard(org_id: int) -> Response:
    org = _org(org_id)
    period = _period()
    try:
        limit = min(max(1, int(request.args.get("limit", 20))), 100)
    except ValueError:
        limit = 20
    switch = boards.leaderboard_switch(org)
    rows = queries.leaderboard(org, period, limit) if switch.enabled else []
    return jsonify(
        org=queries.org_ref(org),
        period=period.as_json(),
        enabled=switch.enabled,
        switch=switch.as_json(),
        items=[{"place": i} | r.as_json() for i, r in enumerate(rows, start=1)],
    )


@bp.put("/units/<int:org_id>/leaderboard/setting")
def set_leaderboard(org_id: int) -> Response:
    org = _org(org_id)
    data = json_body()
    if "enabled" not in data:
        raise ValidationFailed(fields={"enabled": N_("Choose on, off or as the unit above.")})
    switch = boards.set_leaderboard(
        actor=current_actor(), org=org, enabled=boards.parse_setting(data["enabled"]), now=datetime.now(UTC)
    )
    db.session.commit()
    return jsonify(switch.as_json())


@bp.get("/my-leaderboard")
def my_leaderboard() -> Response:
    """The caller's own unit this year (for cadres): top 20 and their place, unless switched off."""
    actor = current_actor()
    board = boards.my_leaderboard(actor)
    return jsonify(board.as_json(actor.id) if board else {"enabled": False, "items": [], "me": None})


@bp.get("/cadres/<int:user_id>")
def cadre(user_id: int) -> Response:
    scope = current_scope(current_actor())
    user = db.session.get(User, user_id) if 0 < user_id <= 2**31 - 1 else None
    if user is None or not scope.is_admin or not scope.covers(user.org):
        raise NotFound()
    period = _period()
    figures = queries.cadre_figures(user.org, user.id, period)
    return jsonify(
        user_id=user.id,
        name=user.display_name,
        org=queries.org_ref(user.org),
        period=period.as_json(),
        figures=figures.as_json() if figures else None,
        entries=[
            {
                "id": e.id,
                "hours": float(e.hours),
                "kind": str(e.kind),
                "source_kind": str(e.source_kind),
                "use": e.use,
                "title": e.title,
                "reason": e.reason,
                "created_at": e.created_at.isoformat(),
            }
            for e in queries.cadre_entries(user.id, period)
        ],
    )


# Exports ----------------------------------------------------------------------------------------------


def export_json(state: dict[str, Any]) -> dict[str, Any]:
    done = state.get("status") == "done"
    return {
        "id": state["id"],
        "report": state.get("report"),
        "org_id": state.get("org_id"),
        "org_name": state.get("org_name"),
        "from": state.get("from"),
        "to": state.get("to"),
        "status": state.get("status"),
        "progress": state.get("progress", 0),
        "rows": state.get("rows", 0),
        "total": state.get("total"),
        "created_at": state.get("created_at"),
        "finished_at": state.get("finished_at"),
        "download_url": url_for("api_reports.download_export", export_id=state["id"]) if done else None,
    }


def _admin_id() -> int:
    actor = current_actor()
    if not current_scope(actor).is_admin:
        raise NotFound()
    return actor.id


@bp.get("/exports")
def list_exports() -> Response:
    return jsonify(items=[export_json(s) for s in tasks.list_exports(get_storage(), _admin_id())])


@bp.post("/exports")
def create_export() -> tuple[Response, int]:
    actor = current_actor()
    data = json_body()
    period = queries.parse_period(data.get("from") or None, data.get("to") or None)
    state = tasks.create_export(
        actor=actor, report=data.get("report"), org_id=data.get("org_id"), period=period
    )
    return jsonify(export_json(state)), 202


def _state(export_id: str) -> tuple[int, dict[str, Any]]:
    user_id = _admin_id()
    state = tasks.read_status(get_storage(), user_id, export_id)
    if state is None:
        raise NotFound()
    return user_id, state


@bp.get("/exports/<export_id>")
def get_export(export_id: str) -> Response:
    return jsonify(export_json(_state(export_id)[1]))


@bp.get("/exports/<export_id>/download")
def download_export(export_id: str) -> Response:
    user_id, state = _state(export_id)
    if state.get("status") != "done":
        raise NotFound()
    found = tasks.open_export(get_storage(), user_id, export_id)
    if found is None:
        raise NotFound()
    size, stream = found

    def chunks():  # type: ignore[no-untyped-def]
        with stream:
            while block := stream.read(256 * 1024):
                yield block

    names = {"units": "单位统计", "cadres": "干部学时", "behind": "未达标干部"}
    filename = f"{names.get(state.get('report', ''), 'report')}-{state.get('from')}-{state.get('to')}.xlsx"
    response = Response(stream_with_context(chunks()), mimetype=tasks.XLSX)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=report.xlsx; filename*=UTF-8''{_quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
