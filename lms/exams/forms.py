"""The test-writing form on /exams/manage: the posted fields become the data ``manage.save_exam`` takes
(the API's JSON shape, so the one service checks both), and a test becomes the form's values again.

Nothing is checked here beyond turning text into numbers and dates: what is not a number is passed on
as text, and the service rejects it with its message for that field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from werkzeug.datastructures import MultiDict

from lms.exams.models import Exam
from lms.learning.credits import CHINA

SPARE_DRAWS = 3  # empty random-draw lines offered below the filled ones
MAX_DRAWS = 50
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, China time


@dataclass
class ExamForm:
    """What the form shows: the fields as text, the fixed questions ticked (question id → marks), the
    random-draw lines, and which form line each entry of the structure came from (for its error)."""

    values: dict[str, Any]
    fixed: dict[int, str] = field(default_factory=dict)
    draws: list[dict[str, str]] = field(default_factory=list)
    slot_keys: list[str] = field(default_factory=list)

    def spare_draws(self) -> list[dict[str, str]]:
        return self.draws + [{}] * SPARE_DRAWS


DEFAULTS: dict[str, Any] = {
    "title": "",
    "kind": "standalone",
    "course_id": "",
    "required_for_completion": False,
    "bank_ids": [],
    "pass_percent": "60",
    "time_limit_minutes": "",
    "opens_at": "",
    "closes_at": "",
    "max_attempts": "1",
    "grading": "highest",
    "one_per_page": False,
    "shuffle_questions": True,
    "shuffle_options": True,
    "review": "answers",
    "review_after_close": False,
    "credit_hours": "0",
}
CHECKBOXES = (
    "required_for_completion",
    "one_per_page",
    "shuffle_questions",
    "shuffle_options",
    "review_after_close",
)


def blank() -> ExamForm:
    return ExamForm(values=dict(DEFAULTS))


def _number(raw: str) -> int | str | None:
    """A whole number, None for an empty field, else the text itself (for the service to refuse)."""
    text = raw.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _local(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime(LOCAL_FORMAT) if value else ""


def _aware(raw: str) -> str | None:
    """``2026-12-01T09:00`` (China time) as an ISO time with its offset; other text is passed on."""
    text = raw.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=CHINA).isoformat()
    except ValueError:
        return text


def parse(form: MultiDict[str, str]) -> tuple[dict[str, Any], ExamForm]:
    """The service's data from the posted form, and the form to show again if the service refuses it."""
    shown = ExamForm(values={name: form.get(name, "") for name in DEFAULTS})
    for name in CHECKBOXES:
        shown.values[name] = name in form
    shown.values["bank_ids"] = form.getlist("bank_ids")
    course = shown.values["kind"] == "course"
    data: dict[str, Any] = {
        "title": shown.values["title"],
        "course_id": _number(form.get("course_id", "")) if course else None,
        "bank_ids": [_number(i) for i in form.getlist("bank_ids")],
        "pass_percent": _number(form.get("pass_percent", "")),
        "time_limit_minutes": _number(form.get("time_limit_minutes", "")),
        "opens_at": _aware(form.get("opens_at", "")),
        "closes_at": _aware(form.get("closes_at", "")),
        "max_attempts": _number(form.get("max_attempts", "")),
        "grading": form.get("grading", ""),
        "review": form.get("review", ""),
        "credit_hours": form.get("credit_hours", "").strip() or "0",
    } | {name: shown.values[name] for name in CHECKBOXES}
    if course and data["course_id"] is None:
        data["course_id"] = ""  # a course quiz without its course: the service says to choose one
    data["required_for_completion"] = course and data["required_for_completion"]
    structure: list[dict[str, Any]] = []
    for raw in dict.fromkeys(form.getlist("questions")):
        question_id = _number(raw)
        marks = form.get(f"marks-{raw}", "").strip()
        if isinstance(question_id, int):
            shown.fixed[question_id] = marks
        structure.append({"kind": "fixed", "question_id": question_id, "marks": marks or "1"})
        shown.slot_keys.append(f"question-{raw}")
    lines = form.get("draws", "")
    for n in range(min(int(lines), MAX_DRAWS) if lines.isdigit() else 0):
        line = {
            key: form.get(f"draw-{key}-{n}", "").strip()
            for key in ("category", "difficulty", "count", "marks")
        }
        if not any(line.values()):
            continue
        shown.draws.append(line)
        structure.append(
            {
                "kind": "random",
                "category": line["category"],
                "difficulty": _number(line["difficulty"]),
                "count": _number(line["count"]),
                "marks": line["marks"] or "1",
            }
        )
        shown.slot_keys.append(f"draw-{len(shown.draws) - 1}")
    data["structure"] = structure
    return data, shown


def of_exam(exam: Exam) -> ExamForm:
    """The form filled with a test's fields."""
    shown = ExamForm(
        values={
            "title": exam.title,
            "kind": "course" if exam.course_id else "standalone",
            "course_id": str(exam.course_id or ""),
            "required_for_completion": exam.required_for_completion,
            "bank_ids": [str(i) for i in exam.bank_ids or []],
            "pass_percent": str(exam.pass_percent),
            "time_limit_minutes": str(exam.time_limit_minutes or ""),
            "opens_at": _local(exam.opens_at),
            "closes_at": _local(exam.closes_at),
            "max_attempts": str(exam.max_attempts),
            "grading": exam.grading,
            "one_per_page": exam.one_per_page,
            "shuffle_questions": exam.shuffle_questions,
            "shuffle_options": exam.shuffle_options,
            "review": exam.review,
            "review_after_close": exam.review_after_close,
            "credit_hours": _plain(exam.credit_hours),
        }
    )
    for slot in exam.structure or []:
        marks = _plain(Decimal(str(slot.get("marks") or "1")))
        if slot.get("kind", "fixed") == "fixed":
            shown.fixed[int(slot["question_id"])] = marks
        else:
            difficulty = slot.get("difficulty")
            shown.draws.append(
                {
                    "category": slot.get("category") or "",
                    "difficulty": str(difficulty) if difficulty else "",
                    "count": str(slot.get("count") or ""),
                    "marks": marks,
                }
            )
    return shown


def _plain(value: Decimal) -> str:
    """2.00 → 2, 1.50 → 1.5"""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def field_errors(fields: dict[str, str], shown: ExamForm) -> dict[str, str]:
    """The service's errors by form field: ``structure.<n>`` goes to the line it came from."""
    errors = {}
    for name, message in fields.items():
        if name.startswith("structure."):
            index = int(name.split(".", 1)[1])
            if index < len(shown.slot_keys):
                errors[shown.slot_keys[index]] = message
        else:
            errors[name] = message
    return errors
