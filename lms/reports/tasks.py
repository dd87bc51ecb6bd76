"""Background report exports: an .xlsx written in openpyxl's write-only mode (rows streamed from a
server-side cursor, so memory stays flat) to the object store at ``exports/<user id>/<token>.xlsx``.

The job's state lives next to it as ``exports/<user id>/<token>.json`` (no table): ``{id, report, org_id,
from, to, status: queued|running|done|failed, progress 0-100, rows, total, created_at, finished_at}``.
Only the user who asked can read either (the key carries their id; the API checks it). An hourly sweep
(``reports.sweep_exports``, Celery beat) deletes both a week after they were last written.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from celery import shared_task
from openpyxl import Workbook

from lms.accounts.models import CADRE_CATEGORY_LABELS, RANK_LABELS, Organization, User
from lms.accounts.permissions import admin_scope
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.tasks import enqueue
from lms.media.storage import get_storage
from lms.reports import queries
from lms.reports.queries import CadreRow, Period, UnitReport
from media_pipeline import ObjectNotFound, ObjectStore

REPORTS = ("units", "cadres", "behind")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROGRESS_EVERY = 5000
KEEP = timedelta(days=7)  # a workbook and its state are deleted this long after they were last written
STALLED_AFTER = timedelta(hours=6)  # a queued or running job silent this long has lost its worker
log = logging.getLogger(__name__)


def status_key(user_id: int, token: str) -> str:
    return f"exports/{user_id}/{token}.json"


def file_key(user_id: int, token: str) -> str:
    return f"exports/{user_id}/{token}.xlsx"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _save(store: ObjectStore, user_id: int, state: dict[str, Any]) -> None:
    store.put(status_key(user_id, state["id"]), json.dumps(state).encode(), content_type="application/json")


def read_status(store: ObjectStore, user_id: int, token: str) -> dict[str, Any] | None:
    if not token.isalnum() or len(token) > 64:
        return None
    try:
        return json.loads(store.read(status_key(user_id, token)))  # type: ignore[no-any-return]
    except (ObjectNotFound, ValueError):
        return None


def open_export(store: ObjectStore, user_id: int, token: str) -> tuple[int, BinaryIO] | None:
    """The finished workbook's size and a stream of it, or None."""
    key = file_key(user_id, token)
    try:
        return store.stat(key).size, store.open(key)
    except ObjectNotFound:
        return None


def list_exports(store: ObjectStore, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    states = []
    for info in store.list(f"exports/{user_id}/", recursive=False):
        if info.key.endswith(".json"):
            state = read_status(store, user_id, info.key.rsplit("/", 1)[-1][: -len(".json")])
            if state:
                states.append(state)
    states.sort(key=lambda s: s.get("created_at", ""), reverse=True)
    return states[:limit]


def create_export(*, actor: User, report: object, org_id: object, period: Period) -> dict[str, Any]:
    """Queue an export of one report for an org the actor administers (else 404)."""
    if report not in REPORTS:
        raise ValidationFailed(fields={"report": N_("Not a valid choice.")})
    if not isinstance(org_id, int) or isinstance(org_id, bool):
        raise ValidationFailed(fields={"org_id": N_("Must be a whole number.")})
    org = queries.report_root(admin_scope(actor), org_id)
    token = secrets.token_hex(12)
    state = {
        "id": token,
        "report": report,
        "org_id": org.id,
        "org_name": org.name,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "status": "queued",
        "progress": 0,
        "rows": 0,
        "total": None,
        "error": None,
        "created_at": _now(),
        "finished_at": None,
    }
    store = get_storage()
    _save(store, actor.id, state)
    enqueue("reports.export", actor.id, token)
    return read_status(store, actor.id, token) or state


# Workbooks --------------------------------------------------------------------------------------------

UNIT_HEADINGS = [
    "单位", "应学人数", "参学人数", "参学率", "网络培训人数", "网络培训率", "达标人数", "达标率", "总学时",
    "人均学时", "必修学时", "选修学时", "网络学时", "线下学时", "理论教育", "党性教育", "专业化能力",
    "知识培训", "其他", "理论+党性占比", "差额学时", "排名",
]  # fmt: skip

CADRE_HEADINGS = [
    "单位", "姓名", "账号", "职级", "干部类别", "学时", "必修", "选修", "网络", "线下", "目标学时",
    "必修目标", "是否达标", "差额",
]  # fmt: skip


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def unit_rows(report: UnitReport) -> Iterable[list[object]]:
    def line(name: str, f: queries.Figures, place: int | None) -> list[object]:
        return [
            name, f.cadres, f.participants, _rate(f.participation_rate), f.online_participants,
            _rate(f.online_rate), f.reached, _rate(f.reach_rate), float(f.hours),
            None if f.hours_per_cadre is None else float(f.hours_per_cadre), float(f.required),
            float(f.elective), float(f.online), float(f.offline),
            *(float(f.by_category[c]) for c in queries.CATEGORY_FIELDS),
            _rate(f.theory_party_share), float(f.behind_hours), place,
        ]  # fmt: skip

    for row in report.rows:
        yield line(f"{row.org.name}（本级）" if row.own else row.org.name, row.figures, row.place)
    yield line(f"合计：{report.org.name}", report.total, None)


def cadre_line(row: CadreRow) -> list[object]:
    rank = RANK_LABELS.get(row.rank, row.rank or "") if row.rank else ""  # type: ignore[call-overload]
    category = (
        CADRE_CATEGORY_LABELS.get(row.cadre_category, row.cadre_category)  # type: ignore[call-overload]
        if row.cadre_category
        else ""
    )
    return [
        row.org_name, row.name, row.login_name, rank, category, float(row.hours), float(row.required),
        float(row.hours - row.required), float(row.online), float(row.offline), float(row.target),
        float(row.required_target), "是" if row.reached else "否", float(row.missing),
    ]  # fmt: skip


def write_xlsx(
    path: Path,
    title: str,
    headings: list[str],
    rows: Iterable[list[object]],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Stream ``rows`` into a one-sheet write-only workbook at ``path``; returns the row count."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(headings)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
        if on_progress and count % PROGRESS_EVERY == 0:
            on_progress(count)
    book.save(path)
    return count


def run_export(store: ObjectStore, user_id: int, token: str) -> dict[str, Any]:
    state = read_status(store, user_id, token)
    if state is None or state["status"] in ("done", "failed"):
        return state or {}
    state |= {"status": "running", "progress": 1}
    _save(store, user_id, state)
    try:
        actor = db.session.get(User, user_id)
        org = db.session.get(Organization, state["org_id"])
        if actor is None or org is None or not admin_scope(actor).covers(org):
            raise NotFound()
        period = Period(date.fromisoformat(state["from"]), date.fromisoformat(state["to"]))
        with tempfile.TemporaryDirectory(prefix="lms-export-") as folder:
            path = Path(folder) / "report.xlsx"
            if state["report"] == "units":
                report = queries.unit_report(org, period, with_months=False)
                count = write_xlsx(path, "单位统计", UNIT_HEADINGS, unit_rows(report))
            else:
                behind = state["report"] == "behind"
                total = queries.count_cadres(org, behind=behind, period=period)
                state["total"] = total

                def progress(done: int) -> None:
                    state.update(rows=done, progress=min(99, max(1, done * 100 // max(total, 1))))
                    _save(store, user_id, state)

                rows = (cadre_line(r) for r in queries.iter_cadres(org, period, behind=behind))
                title = "未达标干部" if behind else "干部学时"
                count = write_xlsx(path, title, CADRE_HEADINGS, rows, progress)
            store.upload_file(file_key(user_id, token), path, content_type=XLSX)
        state |= {"status": "done", "progress": 100, "rows": count, "finished_at": _now()}
    except Exception as error:  # the job's state says so; the worker log has the traceback
        db.session.rollback()
        state |= {"status": "failed", "error": type(error).__name__, "finished_at": _now()}
        _save(store, user_id, state)
        log.exception("report export %s of user %s failed", token, user_id)
        return state
    finally:
        db.session.rollback()  # end the read transaction (and any server-side cursor)
    _save(store, user_id, state)
    return state


def sweep_exports(store: ObjectStore, now: datetime) -> dict[str, int]:
    """Delete export workbooks and states not written for ``KEEP``; mark jobs that have not reported for
    ``STALLED_AFTER`` (their worker died) as failed, so nobody waits for them."""
    deleted = stalled = 0
    for info in list(store.list("exports/", recursive=True)):
        age = now - info.last_modified
        if age > KEEP:
            store.delete(info.key)
            deleted += 1
            continue
        parts = info.key.split("/")
        if age > STALLED_AFTER and len(parts) == 3 and parts[1].isdigit() and parts[2].endswith(".json"):
            user_id, token = int(parts[1]), parts[2][: -len(".json")]
            state = read_status(store, user_id, token)
            if state and state.get("status") in ("queued", "running"):
                state |= {"status": "failed", "error": "Stalled", "finished_at": _now()}
                _save(store, user_id, state)
                stalled += 1
    return {"deleted": deleted, "stalled": stalled}


@shared_task(name="reports.sweep_exports", ignore_result=True)
def sweep_exports_task() -> dict[str, int]:
    return sweep_exports(get_storage(), datetime.now(UTC))


@shared_task(name="reports.export", ignore_result=True)
def export_task(user_id: int, token: str) -> dict[str, Any]:
    return run_export(get_storage(), user_id, token)
