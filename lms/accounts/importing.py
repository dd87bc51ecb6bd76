"""Bulk import of users from the .xlsx or .csv template (accounts are issued top-down).

The file is read and every row validated first; any bad row rejects the whole file with a report of
(row, column, reason). Only a clean file is applied, in one transaction. Re-importing the same file
updates the same accounts instead of duplicating them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import select

from lms.accounts.models import CADRE_CATEGORY_LABELS, RANK_LABELS, Organization, User
from lms.accounts.permissions import admin_scope
from lms.accounts.services import UserData, clean_user_data, create_user, update_user, user_snapshot
from lms.audit import services as audit
from lms.core.db import db
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.core.tabular import ImportRejected, RowError, read_rows

__all__ = ["ImportRejected", "ImportResult", "RowError", "import_users", "parse_file"]

MAX_ROWS = 20_000

# Column headings of the template, in order (Chinese: the admins' own words), and their keys.
COLUMNS = [
    ("login_name", "登录名"),
    ("display_name", "姓名"),
    ("org", "所属单位"),
    ("rank", "职级"),
    ("cadre_category", "干部类别"),
    ("phone", "手机号"),
]
REQUIRED = {"login_name", "display_name", "org"}
HEADING_TO_KEY = {heading: key for key, heading in COLUMNS} | {key: key for key, _ in COLUMNS}
HEADING_OF = dict(COLUMNS)


@dataclass
class ImportResult:
    created: list[tuple[User, str]] = field(default_factory=list)  # (user, initial password)
    updated: list[User] = field(default_factory=list)
    unchanged: int = 0


def template_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "用户导入"
    sheet.append([heading for _, heading in COLUMNS])
    sheet.append(["gb20260001", "张三", "示范省/一市/一县/县委组织部", "乡科级", "机关公务员", "13800000000"])
    notes = book.create_sheet("填写说明")
    notes.append(["列", "说明"])
    notes.append(["登录名", "必填。工号或证件号，2-64 位字母、数字或 . _ @ -，全省唯一。"])
    notes.append(["姓名", "必填。"])
    notes.append(["所属单位", "必填。单位编码，或从省级开始用 / 分隔的单位全称路径。"])
    notes.append(["职级", "选填：" + "、".join(RANK_LABELS.values())])
    notes.append(["干部类别", "选填：" + "、".join(CADRE_CATEGORY_LABELS.values())])
    notes.append(["手机号", "选填。"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    return ("\ufeff" + ",".join(h for _, h in COLUMNS) + "\r\n").encode("utf-8")


@dataclass(frozen=True)
class ParsedRow:
    row: int
    data: UserData
    org_ref: str


def parse_file(filename: str, data: bytes) -> list[ParsedRow]:
    """Read and validate every row's fields (no database). Raises ``ImportRejected`` with all errors."""
    rows = read_rows(filename, data)
    heading = next(rows, None)
    if heading is None:
        raise ImportRejected([RowError(0, "", N_("The file is empty."))])
    headings = [str(h).strip() if h is not None else "" for h in heading]
    keys = [HEADING_TO_KEY.get(h) for h in headings]
    missing = [HEADING_OF[k] for k in ("login_name", "display_name", "org") if k not in keys]
    if missing:
        raise ImportRejected([RowError(1, h, N_("Required column is missing.")) for h in missing])

    errors: list[RowError] = []
    parsed: list[ParsedRow] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=2):
        if number - 1 > MAX_ROWS:
            errors.append(RowError(number, "", N_("Too many rows: split the file (at most 20000 rows).")))
            break
        cells = {key: raw[i] if i < len(raw) else None for i, key in enumerate(keys) if key}
        if all(c is None or str(c).strip() == "" for c in cells.values()):
            continue  # blank line
        for key in REQUIRED:
            if cells.get(key) is None or str(cells[key]).strip() == "":
                errors.append(RowError(number, HEADING_OF[key], N_("Required.")))
        try:
            data = _clean_row(cells)
        except ValidationFailed as failed:
            errors.extend(
                RowError(number, HEADING_OF[k], m)
                for k, m in failed.fields.items()
                if not (k in REQUIRED and cells.get(k) in (None, ""))
            )
            continue
        if data.login_name in seen:
            errors.append(
                RowError(number, HEADING_OF["login_name"], N_("Duplicate login name in this file."))
            )
            continue
        seen[data.login_name] = number
        org_ref = str(cells.get("org") or "").strip()
        if org_ref:
            parsed.append(ParsedRow(number, data, org_ref))
    if errors:
        raise ImportRejected(errors)
    if not parsed:
        raise ImportRejected([RowError(0, "", N_("The file has no user rows."))])
    return parsed


def _clean_row(cells: dict[str, object]) -> UserData:
    return clean_user_data(
        login_name=cells.get("login_name"),
        display_name=cells.get("display_name"),
        rank=cells.get("rank"),
        cadre_category=cells.get("cadre_category"),
        phone=cells.get("phone"),
    )


def _resolve_orgs(refs: set[str]) -> dict[str, Organization]:
    """Map each reference (a unit code or a full name path from the root) to its org."""
    found: dict[str, Organization] = {}
    codes = {r.upper() for r in refs if "/" not in r}
    if codes:
        for org in db.session.scalars(select(Organization).where(Organization.code.in_(codes))):
            found[org.code or ""] = org
    name_paths = {r for r in refs if "/" in r}
    if name_paths:
        orgs = db.session.scalars(select(Organization)).all()
        by_id = {o.id: o for o in orgs}

        def full_name(org: Organization) -> str:
            parts = [by_id[int(i)].name for i in org.path.strip("/").split("/")]
            return "/".join(parts)

        wanted = {"/".join(p.strip() for p in r.strip("/").split("/")): r for r in name_paths}
        for org in orgs:
            name = full_name(org)
            if name in wanted:
                found[wanted[name]] = org
    return {
        ref: found[ref.upper() if "/" not in ref else ref]
        for ref in refs
        if (ref.upper() if "/" not in ref else ref) in found
    }


def import_users(*, actor: User, filename: str, data: bytes) -> ImportResult:
    """Validate the whole file against the database, then create or update every row, or nothing."""
    scope = admin_scope(actor)
    require(scope.is_admin, "import_users")
    rows = parse_file(filename, data)
    orgs = _resolve_orgs({r.org_ref for r in rows})
    existing = {
        u.login_name: u
        for u in db.session.scalars(
            select(User).where(User.login_name.in_([r.data.login_name for r in rows]))
        )
    }
    errors: list[RowError] = []
    for row in rows:
        org = orgs.get(row.org_ref)
        if org is None or not scope.covers(org):
            errors.append(
                RowError(row.row, HEADING_OF["org"], N_("No such unit within your administration."))
            )
        user = existing.get(row.data.login_name)
        if user is not None and not scope.covers(user.org):
            errors.append(
                RowError(row.row, HEADING_OF["login_name"], N_("This login name is already in use."))
            )
    if errors:
        raise ImportRejected(errors)

    result = ImportResult()
    for row in rows:
        org = orgs[row.org_ref]
        user = existing.get(row.data.login_name)
        if user is None:
            result.created.append(create_user(actor=actor, org=org, data=row.data))
            continue
        before = user_snapshot(user)
        update_user(actor=actor, user=user, data=row.data, org=org)
        if user_snapshot(user) == before:
            result.unchanged += 1
        else:
            result.updated.append(user)
    audit.record(
        actor=actor,
        action="user.import",
        target_type="import",
        target_id=filename[:64],
        target_label=filename[:200],
        org_path=scope.paths[0] if scope.paths else "/",
        after={"created": len(result.created), "updated": len(result.updated), "unchanged": result.unchanged},
    )
    return result
