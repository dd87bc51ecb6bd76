"""Bulk import of a vendor's course list from .csv, .xlsx or .jsonl.

Every row is read and validated against the database first; any bad row rejects the whole file with a
report of (row or JSONL line, column, reason). Only a clean file is applied, in the caller's
transaction: new courses are created in the target org with their ``code``, one lesson, visible to the
org's subtree, then submitted and approved by the importing admin. Re-importing the same file updates
the same courses by ``code`` (a new revision, submitted and approved) only where something changed.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import admin_scope
from lms.audit import services as audit
from lms.catalog import services
from lms.catalog.models import Category, Course, CourseKind, CourseStatus, RevisionStatus
from lms.catalog.validation import CourseData, clean_course_data
from lms.core.db import db
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.core.tabular import ImportRejected, RowError, decode_csv, read_rows

__all__ = ["COLUMNS", "CourseImportResult", "ImportRejected", "RowError", "import_courses"]

MAX_ROWS = 50_000

# (key, Chinese heading); either may be used as a CSV/XLSX heading or a JSONL key.
COLUMNS = [
    ("code", "课程编号"),
    ("title", "课程名称"),
    ("summary", "简介"),
    ("category", "分类"),
    ("tags", "标签"),
    ("lecturers", "主讲人"),
    ("kind", "类型"),
    ("hours", "学时"),
    ("duration", "时长"),
]
HEADING_TO_KEY = {heading: key for key, heading in COLUMNS} | {key: key for key, _ in COLUMNS}
HEADING_OF = dict(COLUMNS)
KIND_NAMES = {
    "视频课程": CourseKind.VIDEO,
    "视频": CourseKind.VIDEO,
    "video": CourseKind.VIDEO,
    "微课": CourseKind.MICRO,
    "micro": CourseKind.MICRO,
    "音频课程": CourseKind.AUDIO,
    "音频": CourseKind.AUDIO,
    "audio": CourseKind.AUDIO,
}
SEPARATORS = re.compile(r"[、，,;；|｜]")
CODE_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")
# clean_course_data's field -> the import column it comes from
FIELD_COLUMN = {
    "title": "title",
    "summary_html": "summary",
    "category_id": "category",
    "tags": "tags",
    "lecturers": "lecturers",
    "kind": "kind",
    "hours": "hours",
    "lessons": "duration",
}


@dataclass
class CourseImportResult:
    created: list[Course] = field(default_factory=list)
    updated: list[Course] = field(default_factory=list)
    unchanged: int = 0


@dataclass
class _Row:
    row: int  # spreadsheet row (heading = 1) or JSONL line number
    cells: dict[str, Any]  # key -> raw value, only for the columns present
    headings: dict[str, str]  # key -> heading as written in the file
    code: str = ""


# --- reading -------------------------------------------------------------------------------------


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _read(filename: str, data: bytes) -> Iterator[_Row]:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson")):
        yield from _read_jsonl(data)
        return
    if not name.endswith((".csv", ".xlsx")):
        raise ImportRejected([RowError(0, "", N_("Upload a .csv, .xlsx or .jsonl course list."))])
    rows = read_rows(filename, data)
    heading = next(rows, None)
    if heading is None:
        raise ImportRejected([RowError(0, "", N_("The file is empty."))])
    titles = [str(h).strip() if h is not None else "" for h in heading]
    keys = [HEADING_TO_KEY.get(t) for t in titles]
    if "code" not in keys or "title" not in keys:
        missing = [HEADING_OF[k] for k in ("code", "title") if k not in keys]
        raise ImportRejected([RowError(1, h, N_("Required column is missing.")) for h in missing])
    headings = {key: titles[i] for i, key in enumerate(keys) if key}
    for number, raw in enumerate(rows, start=2):
        cells = {key: raw[i] if i < len(raw) else None for i, key in enumerate(keys) if key}
        if all(_blank(c) for c in cells.values()):
            continue
        yield _Row(number, cells, headings)


def _read_jsonl(data: bytes) -> Iterator[_Row]:
    text = decode_csv(data)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            yield _Row(number, {}, {}, code="\x00bad-json")
            continue
        cells: dict[str, Any] = {}
        headings: dict[str, str] = {}
        for raw_key, value in item.items():
            key = HEADING_TO_KEY.get(str(raw_key).strip())
            if key:
                cells[key], headings[key] = value, str(raw_key).strip()
        yield _Row(number, cells, headings)


# --- cell values ---------------------------------------------------------------------------------


def _str(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet number cell: 1001.0 -> "1001"
    return "" if value is None else str(value).strip()


def _split(value: object) -> list[str]:
    if isinstance(value, list):
        return [_str(v) for v in value if _str(v)]
    return [part.strip() for part in SEPARATORS.split(_str(value)) if part.strip()]


def _summary_html(value: object) -> str:
    """Plain text from the vendor: escaped, one paragraph per line."""
    lines = [line.strip() for line in _str(value).splitlines() if line.strip()]
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


def _duration_s(value: object) -> int | None:
    """Minutes (``45``, ``12.5``), ``H:MM:SS`` or ``MM:SS``; a spreadsheet time or duration cell."""
    if isinstance(value, bool):
        return None
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, dt.time):
        return value.hour * 3600 + value.minute * 60 + value.second
    if isinstance(value, int | float):
        return round(float(value) * 60) if value >= 0 else None
    text = _str(value).removesuffix("分钟").removesuffix("分").strip()
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", text):
        h, m, s = (int(p) for p in text.split(":"))
        return h * 3600 + m * 60 + s if m < 60 and s < 60 else None
    if re.fullmatch(r"\d{1,4}:\d{2}", text):
        m, s = (int(p) for p in text.split(":"))
        return m * 60 + s if s < 60 else None
    try:
        minutes = Decimal(text)
    except InvalidOperation:
        return None
    return int(minutes * 60) if minutes.is_finite() and minutes >= 0 else None


def hours_for(duration_s: int, kind: CourseKind) -> Decimal:
    """Fixed hours by length (Yunnan tiers): micro-courses 0.25; under 30 min 0.5; otherwise 1."""
    if kind == CourseKind.MICRO or duration_s <= 15 * 60:
        return Decimal("0.25")
    return Decimal("0.5") if duration_s < 30 * 60 else Decimal("1")


# --- validation ----------------------------------------------------------------------------------


def _categories() -> dict[str, int]:
    """Category names (top-level first, so they win over a subcategory of the same name) and codes."""
    found: dict[str, int] = {}
    rows = db.session.scalars(select(Category).order_by(Category.parent_id.is_not(None), Category.position))
    for category in rows:
        found.setdefault(category.name, category.id)
        if category.code:
            found.setdefault(category.code.upper(), category.id)
    return found


def _existing(codes: list[str]) -> dict[str, Course]:
    found: dict[str, Course] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        found.update(
            {c.code or "": c for c in db.session.scalars(select(Course).where(Course.code.in_(chunk)))}
        )
    return found


def _target_revision_data(course: Course) -> CourseData:
    """What a course shows now: its published content, or its draft before first publication."""
    return services.course_data_of(course.published_revision or course.current)


def _raw_data(row: _Row, base: CourseData | None, categories: dict[str, int], errors: list[RowError]) -> dict:
    cells = row.cells
    raw: dict[str, Any] = dict(base.__dict__) if base else {}

    def fail(key: str, reason: str) -> None:
        errors.append(RowError(row.row, row.headings.get(key, HEADING_OF[key]), reason))

    raw["title"] = _str(cells.get("title")) if "title" in cells else raw.get("title", "")
    if "summary" in cells:
        raw["summary_html"] = _summary_html(cells["summary"])
    if "category" in cells:
        name = _str(cells["category"])
        raw["category_id"] = None
        if name:
            raw["category_id"] = categories.get(name, categories.get(name.upper()))
            if raw["category_id"] is None:
                fail("category", N_("No such category."))
    if "tags" in cells:
        raw["tags"] = _split(cells["tags"])
    if "lecturers" in cells:
        raw["lecturers"] = _split(cells["lecturers"])
    if "kind" in cells and not _blank(cells["kind"]):
        kind = KIND_NAMES.get(_str(cells["kind"]).lower())
        if kind is None:
            fail("kind", N_("Course type must be 视频课程, 微课 or 音频课程."))
        raw["kind"] = kind or CourseKind.VIDEO
    elif base is None:
        raw["kind"] = CourseKind.VIDEO
    duration: int | None = None
    if "duration" in cells and not _blank(cells["duration"]):
        duration = _duration_s(cells["duration"])
        if duration is None or duration > 24 * 3600:
            fail("duration", N_("Duration must be minutes (e.g. 45) or H:MM:SS, under 24 hours."))
            duration = 0
    if "hours" in cells and not _blank(cells["hours"]):
        raw["hours"] = _str(cells["hours"])
    elif duration:
        raw["hours"] = hours_for(duration, raw["kind"])
    previous = (base.lessons[0] if base and base.lessons else {}) if base else {}
    if duration is None:
        duration = int(previous.get("duration_s") or 0)
    raw["lessons"] = [
        {
            "key": previous.get("key"),
            "title": raw["title"] or "-",
            "duration_s": duration,
            "media_asset_id": previous.get("media_asset_id"),
        }
    ]
    return raw


@dataclass
class _Planned:
    row: _Row
    data: CourseData
    course: Course | None


def _validate(rows: list[_Row], org: Organization) -> list[_Planned]:
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row in rows:
        if row.code == "\x00bad-json":
            errors.append(RowError(row.row, "", N_("This line is not a valid JSON object.")))
            continue
        code = _str(row.cells.get("code"))
        heading = row.headings.get("code", HEADING_OF["code"])
        if not code:
            errors.append(RowError(row.row, heading, N_("Required.")))
        elif not CODE_PATTERN.fullmatch(code):
            errors.append(RowError(row.row, heading, N_("A course code is 1-64 characters without spaces.")))
        elif code in seen:
            errors.append(RowError(row.row, heading, N_("Duplicate course code in this file.")))
        else:
            seen[code] = row.row
            row.code = code
    existing = _existing(list(seen))
    categories = _categories()
    planned: list[_Planned] = []
    for row in rows:
        if not row.code or row.code == "\x00bad-json":
            continue
        course = existing.get(row.code)
        heading = row.headings.get("code", HEADING_OF["code"])
        if course is not None and course.org_id != org.id:
            errors.append(
                RowError(row.row, heading, N_("This course code belongs to a course of another unit."))
            )
            continue
        if course is not None and course.status == CourseStatus.ARCHIVED:
            errors.append(RowError(row.row, heading, N_("This course is archived and cannot be updated.")))
            continue
        base = _target_revision_data(course) if course is not None else None
        row_errors: list[RowError] = []
        raw = _raw_data(row, base, categories, row_errors)
        try:
            data = clean_course_data(raw)
        except ValidationFailed as failed:
            reported = {e.column for e in row_errors}
            for name, message in failed.fields.items():
                key = FIELD_COLUMN.get(name, "title")
                column = row.headings.get(key, HEADING_OF[key])
                if column not in reported:
                    row_errors.append(RowError(row.row, column, message))
            errors.extend(row_errors)
            continue
        errors.extend(row_errors)
        if row_errors:
            continue
        if (
            course is not None
            and course.working_revision is not None
            and course.working_revision.status == RevisionStatus.SUBMITTED
            and not _same(course, data)
        ):
            errors.append(
                RowError(
                    row.row, heading, N_("This course has a revision waiting for review: review it first.")
                )
            )
            continue
        planned.append(_Planned(row, data, course))
    if errors:
        raise ImportRejected(errors)
    return planned


def _same(course: Course, data: CourseData) -> bool:
    return course.status == CourseStatus.PUBLISHED and _target_revision_data(course) == data


# --- applying ------------------------------------------------------------------------------------


def default_org(actor: User) -> Organization:
    """The org an admin imports into by default: the one they administer, else their own."""
    scope = admin_scope(actor)
    if len(scope.paths) == 1:
        org = db.session.scalar(select(Organization).where(Organization.path == scope.paths[0]))
        if org is not None:
            return org
    return actor.org


def import_courses(*, actor: User, org: Organization, filename: str, data: bytes) -> CourseImportResult:
    """Validate the whole file, then create or update every course (published), or nothing."""
    scope = admin_scope(actor)
    require(scope.is_admin and scope.covers(org), "import_courses")
    rows = []
    for row in _read(filename, data):
        if len(rows) >= MAX_ROWS:
            raise ImportRejected(
                [RowError(row.row, "", N_("Too many rows: split the file (at most 50000 rows)."))]
            )
        rows.append(row)
    if not rows:
        raise ImportRejected([RowError(0, "", N_("The file has no course rows."))])
    planned = _validate(rows, org)

    result = CourseImportResult()
    for item in planned:
        course = item.course
        if course is None:
            course = services.create_course(actor=actor, org=org, data=item.data, code=item.row.code)
            if not item.data.teacher_ids:
                # create_course lists its author as the teacher; the importing admin taught nothing.
                services.edit_course(actor=actor, course=course, data=item.data)
            services.submit_for_review(actor=actor, course=course)
            services.approve(actor=actor, course=course, comment="批量导入")
            result.created.append(course)
        elif _same(course, item.data):
            result.unchanged += 1
        else:
            revision = course.working_revision
            if revision is None or revision.status != RevisionStatus.SUBMITTED:
                services.edit_course(actor=actor, course=course, data=item.data)
                services.submit_for_review(actor=actor, course=course)
            services.approve(actor=actor, course=course, comment="批量导入")
            result.updated.append(course)
    audit.record(
        actor=actor,
        action="course.import",
        target_type="import",
        target_id=filename[:64],
        target_label=filename[:200],
        org_path=org.path,
        after={"created": len(result.created), "updated": len(result.updated), "unchanged": result.unchanged},
    )
    return result
