"""Validated course content, shared by the editor, the JSON API and bulk import."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import nh3

from lms.catalog.models import CourseKind, CourseUse, CreditRule
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_

SUMMARY_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h3", "h4", "blockquote", "a"}
MAX_SUMMARY = 20_000
MAX_TAGS = 12
MAX_LESSONS = 300


@dataclass(frozen=True)
class CourseData:
    title: str
    summary_html: str = ""
    category_id: int | None = None
    tags: list[str] = field(default_factory=list)
    kind: CourseKind = CourseKind.VIDEO
    hours: Decimal = Decimal("1")
    credit_rule: CreditRule = CreditRule.FIXED
    minutes_per_hour: int = 45
    use: CourseUse = CourseUse.ELECTIVE
    no_seek_ahead: bool = False
    cover_asset_id: int | None = None
    teacher_ids: list[int] = field(default_factory=list)
    lecturers: list[str] = field(default_factory=list)
    lessons: list[dict[str, Any]] = field(default_factory=list)


def _text(value: object, limit: int) -> str:
    text = unicodedata.normalize("NFC", str(value or "")).strip()  # NFC: keep full-width （），
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    return text[: limit + 1]


def sanitize_summary(html: str) -> str:
    """Rich text from the editor, reduced to a small safe subset (no scripts, styles or handlers)."""
    return nh3.clean(
        html,
        tags=SUMMARY_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )


def clean_course_data(raw: dict[str, Any]) -> CourseData:
    """Validate every field, reporting all problems at once (English message ids)."""
    errors: dict[str, str] = {}
    title = _text(raw.get("title"), 200)
    if not title:
        errors["title"] = N_("Title is required.")
    elif len(title) > 200:
        errors["title"] = N_("Title is longer than 200 characters.")
    summary = str(raw.get("summary_html") or "")
    if len(summary) > MAX_SUMMARY:
        errors["summary_html"] = N_("Summary is longer than 20000 characters.")
    tags = [t for t in (_text(tag, 30) for tag in (raw.get("tags") or [])) if t]
    if len(tags) > MAX_TAGS or any(len(t) > 30 for t in tags):
        errors["tags"] = N_("At most 12 tags of up to 30 characters.")
    values: dict[str, Any] = {}
    for name, enum_type, default in (
        ("kind", CourseKind, CourseKind.VIDEO),
        ("use", CourseUse, CourseUse.ELECTIVE),
        ("credit_rule", CreditRule, CreditRule.FIXED),
    ):
        try:
            values[name] = enum_type(raw.get(name) or default)
        except ValueError:
            errors[name] = N_("Not a valid choice.")
    try:
        hours = Decimal(str(raw.get("hours", "1"))).quantize(Decimal("0.01"))
        if not Decimal("0") < hours <= Decimal("200"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["hours"] = N_("Learning hours must be a number above 0 and at most 200.")
        hours = Decimal("1")
    try:
        minutes_per_hour = int(raw.get("minutes_per_hour") or 45)
        if not 10 <= minutes_per_hour <= 120:
            raise ValueError
    except (TypeError, ValueError):
        errors["minutes_per_hour"] = N_("Minutes per learning hour must be from 10 to 120.")
        minutes_per_hour = 45
    lessons = _clean_lessons(raw.get("lessons") or [], errors)
    category_id = raw.get("category_id")
    if category_id is not None and not isinstance(category_id, int):
        errors["category_id"] = N_("Not a valid choice.")
        category_id = None
    teacher_ids = [t for t in (raw.get("teacher_ids") or []) if isinstance(t, int)]
    lecturers = [name for name in (_text(n, 64) for n in (raw.get("lecturers") or [])) if name]
    if len(lecturers) > 10 or any(len(name) > 64 for name in lecturers):
        errors["lecturers"] = N_("At most 10 lecturers of up to 64 characters.")
    if errors:
        raise ValidationFailed(fields=errors)
    return CourseData(
        title=title,
        summary_html=sanitize_summary(summary),
        category_id=category_id,
        tags=list(dict.fromkeys(tags)),
        hours=hours,
        minutes_per_hour=minutes_per_hour,
        teacher_ids=list(dict.fromkeys(teacher_ids)),
        lecturers=list(dict.fromkeys(lecturers)),
        lessons=lessons,
        no_seek_ahead=raw.get("no_seek_ahead") is True,
        cover_asset_id=cover
        if isinstance(cover := raw.get("cover_asset_id"), int) and not isinstance(cover, bool)
        else None,
        **values,
    )


def _clean_lessons(raw: object, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or len(raw) > MAX_LESSONS:
        errors["lessons"] = N_("At most 300 lessons.")
        return []
    lessons = []
    for item in raw:
        if not isinstance(item, dict):
            errors["lessons"] = N_("Each lesson needs a title.")
            continue
        title = _text(item.get("title"), 200)
        try:
            duration = max(0, int(item.get("duration_s") or 0))
        except (TypeError, ValueError):
            duration = -1
        if not title or len(title) > 200 or duration < 0 or duration > 24 * 3600:
            errors["lessons"] = N_(
                "Each lesson needs a title (up to 200 characters) and a duration under 24 hours."
            )
            continue
        key = str(item.get("key") or "")
        lesson = {
            "key": key if re.fullmatch(r"[a-z0-9]{8,32}", key) else secrets.token_hex(6),
            "title": title,
            "duration_s": duration,
            "media_asset_id": item.get("media_asset_id"),
        }
        material = item.get("material_id")
        if material is not None:  # reading material (lms.catalog.materials) instead of media
            lesson["material_id"] = material
        lessons.append(lesson)
    return lessons
