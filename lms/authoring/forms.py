"""Flask-WTF forms of the authoring pages. They render the fields and check the CSRF token and the
choices offered; the catalog's ``clean_course_data`` and services decide what is valid."""

from __future__ import annotations

import html
import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    FileField,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from lms.catalog.models import KIND_LABELS, USE_LABELS
from lms.catalog.validation import MAX_LESSONS

SEPARATORS = re.compile(r"[,，、;；\n]+")
TAG_SEPARATORS = re.compile(r"[,，、;；\s]+")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None


BLOCK_TAGS = re.compile(r"<\s*(p|br|ul|ol|li|h3|h4|blockquote)\b", re.I)


def text_to_html(text: str) -> str:
    """What a teacher typed: lines become paragraphs, unless the text already has paragraphs, lists or
    headings of its own (the catalog sanitizes it when saved)."""
    text = text.strip()
    if not text or BLOCK_TAGS.search(text):
        return text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "<" not in text:
        lines = [html.escape(line, quote=False) for line in lines]
    return "".join(f"<p>{line}</p>" for line in lines)


class LessonForm(Form):
    """One lesson row of the editor (a subform: the page's form carries the CSRF token)."""

    key = HiddenField()
    media_asset_id = HiddenField()
    material_id = HiddenField()
    duration_s = HiddenField()
    title = StringField(_l("Lesson title"))
    position = StringField(_l("Order"))
    remove = BooleanField(_l("Remove"))


class NewCourseForm(FlaskForm):
    org_id = SelectField(_l("Unit the course belongs to"), coerce=int)
    title = StringField(_l("Course title"))
    kind = SelectField(_l("Type"), choices=[SelectChoice(str(k), v) for k, v in KIND_LABELS.items()])


class CourseForm(FlaskForm):
    title = StringField(_l("Course title"))
    summary_html = TextAreaField(_l("Summary"))
    cover_asset_id = SelectField(_l("Cover"), coerce=int)
    # Multiple choices are checked by the services (Chinese messages; WTForms' own is untranslated).
    teacher_ids = MultiCheckboxField(_l("Teachers"), coerce=int, validate_choice=False)
    lecturers = StringField(_l("Other lecturers (without an account here)"))
    category_id = SelectField(_l("Category"), coerce=int)
    tags = StringField(_l("Tags"))
    kind = SelectField(_l("Type"), choices=[SelectChoice(str(k), v) for k, v in KIND_LABELS.items()])
    hours = StringField(_l("Learning hours"))
    credit_rule = SelectField(
        _l("How the hours are credited"),
        choices=[
            SelectChoice("fixed", _l("Fixed hours on completion")),
            SelectChoice("per_minute", _l("Per verified minute")),
        ],
    )
    minutes_per_hour = StringField(_l("Minutes per learning hour"))
    use = SelectField(_l("Counts as"), choices=[SelectChoice(str(k), v) for k, v in USE_LABELS.items()])
    no_seek_ahead = BooleanField(_l("No skipping ahead of the furthest point watched"))
    visibility_paths = MultiCheckboxField(_l("Visible to (with their sub-units)"), validate_choice=False)
    lessons = FieldList(FormField(LessonForm), max_entries=MAX_LESSONS)
    add_assets = MultiCheckboxField(_l("Add lessons from my media"), coerce=int, validate_choice=False)

    def lesson_rows(self) -> list[dict[str, Any]]:
        """The lessons as submitted: removed ones dropped, ordered by their order numbers (ties keep
        the page's order)."""
        rows = []
        for index, entry in enumerate(self.lessons.entries):
            lesson = entry.form
            if lesson.remove.data:
                continue
            try:
                position = float(str(lesson.position.data or "").strip())
            except ValueError:
                position = float(index + 1)
            row: dict[str, Any] = {
                "key": str(lesson.key.data or ""),
                "title": lesson.title.data or "",
                "media_asset_id": _int_or_none(lesson.media_asset_id.data),
            }
            material = _int_or_none(lesson.material_id.data)
            if material is not None:
                row["material_id"] = material
            if row["media_asset_id"] is None:
                row["duration_s"] = _int_or_none(lesson.duration_s.data) or 0
            rows.append((position, index, row))
        return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]

    def course_data(self, added: list[dict[str, Any]]) -> dict[str, Any]:
        """The raw course fields for ``clean_course_data``."""
        summary = text_to_html(self.summary_html.data or "")
        return {
            "title": self.title.data or "",
            "summary_html": summary,
            "cover_asset_id": self.cover_asset_id.data or None,
            "teacher_ids": list(self.teacher_ids.data or []),
            "lecturers": [n for n in SEPARATORS.split(self.lecturers.data or "") if n.strip()],
            "category_id": self.category_id.data or None,
            "tags": [t for t in TAG_SEPARATORS.split(self.tags.data or "") if t],
            "kind": self.kind.data,
            "hours": (self.hours.data or "").strip() or "0",
            "credit_rule": self.credit_rule.data,
            "minutes_per_hour": (self.minutes_per_hour.data or "").strip() or "0",
            "use": self.use.data,
            "no_seek_ahead": bool(self.no_seek_ahead.data),
            "lessons": self.lesson_rows() + added,
        }


class MaterialForm(FlaskForm):
    title = StringField(_l("Title of the material"))
    text_html = TextAreaField(_l("Text (or attach a PDF below)"))
    pdf = FileField(_l("PDF file (at most 20 MB)"))


class ReviewForm(FlaskForm):
    comment = TextAreaField(_l("Comment for the teacher (optional)"))


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason (the teacher sees it)"))


class SubcategoryForm(FlaskForm):
    parent_id = SelectField(_l("Category"), coerce=int)
    org_id = SelectField(_l("Unit it belongs to"), coerce=int)
    name = StringField(_l("Name of the subcategory"))


class RenameForm(FlaskForm):
    name = StringField(_l("New name"))
