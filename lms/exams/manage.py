"""Teachers and admins: writing tests, the marking queue for short answers, results, statistics, export."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from sqlalchemy import String, cast, or_, select, true

from lms.accounts.models import Organization, User
from lms.accounts.permissions import admin_scope, is_teacher
from lms.audit.services import record, record_change
from lms.catalog.models import Course, CourseRevision, CourseStatus
from lms.catalog.permissions import can_edit
from lms.core.db import db
from lms.core.errors import NotFound, PermissionDenied, ValidationFailed
from lms.core.i18n import N_
from lms.exams.attempts import check_paper, finish_grading
from lms.exams.banks import get_bank, usable_banks
from lms.exams.grading import item_statistics
from lms.exams.models import (
    Attempt,
    AttemptAnswer,
    AttemptStatus,
    Exam,
    ExamStatus,
    Question,
    QuestionBank,
    QuestionVersion,
)
from lms.learning.credits import CHINA

MAX_ID = 2**31 - 1
FIELDS = (
    "title",
    "course_id",
    "structure",
    "bank_ids",
    "shuffle_questions",
    "shuffle_options",
    "one_per_page",
    "time_limit_minutes",
    "opens_at",
    "closes_at",
    "max_attempts",
    "grading",
    "pass_percent",
    "review",
    "review_after_close",
    "credit_hours",
    "required_for_completion",
)


def _org_path(org_id: int) -> str:
    return db.session.scalar(select(Organization.path).where(Organization.id == org_id)) or ""


def can_manage(actor: User, exam: Exam) -> bool:
    return exam.owner_id == actor.id or admin_scope(actor).covers_path(_org_path(exam.org_id))


def get_managed_exam(actor: User, exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id) if 0 < exam_id <= MAX_ID else None
    if exam is None or not can_manage(actor, exam):
        raise NotFound()
    return exam


def my_exams(actor: User, limit: int = 50) -> list[Exam]:
    """Tests the actor wrote, and those of the units they administer."""
    rows = db.session.scalars(select(Exam).order_by(Exam.id.desc()).limit(limit * 4))
    return [exam for exam in rows if can_manage(actor, exam)][:limit]


def _date(value: object, name: str, errors: dict[str, str]) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        errors[name] = N_("Use a date and time like 2026-12-01T09:00+08:00.")
        return None
    if parsed.tzinfo is None:
        errors[name] = N_("Use a date and time like 2026-12-01T09:00+08:00.")
        return None
    return parsed


def editable_courses(actor: User, *, keep: int | None = None, limit: int = 300) -> list[Course]:
    """Courses a test may be attached to by the actor: those they may edit (created, listed as a
    teacher, or administered), plus ``keep`` (the test's course already), newest first."""
    scope = admin_scope(actor)
    listed = cast(CourseRevision.teacher_ids, String)  # a JSON list as json.dumps writes it: [3, 12]
    teaching = select(CourseRevision.course_id).where(
        or_(
            listed == f"[{actor.id}]",
            listed.like(f"[{actor.id}, %"),
            listed.like(f"%, {actor.id}]"),
            listed.like(f"%, {actor.id}, %"),
        )
    )
    mine = [Course.created_by_id == actor.id, Course.id.in_(teaching)]
    if scope.everything:
        mine.append(true())
    else:
        mine += [Organization.path.startswith(path, autoescape=True) for path in scope.paths]
    if keep is not None:
        mine.append(Course.id == keep)
    rows = db.session.execute(
        select(Course, Organization.path)
        .join(Organization, Organization.id == Course.org_id)
        .where(Course.status != CourseStatus.ARCHIVED, or_(*mine))
        .order_by(Course.id.desc())
        .limit(limit)
    ).all()
    return [course for course, path in rows if course.id == keep or can_edit(actor, course, path)]


def form_banks(actor: User, exam: Exam | None) -> list[QuestionBank]:
    """The banks a test may draw from: those the actor may use, and those the test has already."""
    banks = usable_banks(actor)
    kept = set(exam.bank_ids or []) - {bank.id for bank in banks} if exam is not None else set()
    if kept:
        banks += db.session.scalars(select(QuestionBank).where(QuestionBank.id.in_(kept)))
    return sorted(banks, key=lambda bank: bank.name)


def _course_error(actor: User, course_id: object, exam: Exam | None) -> str | None:
    if exam is not None and course_id == exam.course_id:
        return None  # the test keeps its course
    course = (
        db.session.get(Course, course_id) if isinstance(course_id, int) and 0 < course_id <= MAX_ID else None
    )
    if course is None:
        return N_("Not a valid choice.")
    if not can_edit(actor, course, _org_path(course.org_id)):
        return N_("Choose a course you may edit.")
    return None


def _clean(actor: User, data: dict[str, Any], exam: Exam | None = None) -> dict[str, Any]:
    """Every field checked before anything is written; errors by field (``structure.<n>`` for a line of
    the structure)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    title = str(data.get("title") or "").strip()[:200]
    if not title:
        errors["title"] = N_("Give the test a title.")
    values["title"] = title
    bank_ids = data.get("bank_ids") or []
    if not isinstance(bank_ids, list) or not all(isinstance(i, int) for i in bank_ids):
        errors["bank_ids"] = N_("Choose question banks you may use.")
        bank_ids = []
    for bank_id in bank_ids:
        if exam is not None and bank_id in (exam.bank_ids or []):
            continue  # the test keeps a bank it had (its author's own, say, when an admin edits it)
        try:
            get_bank(actor, bank_id)
        except NotFound:
            errors["bank_ids"] = N_("Choose question banks you may use.")
    values["bank_ids"] = bank_ids
    structure = data.get("structure") or []
    if not isinstance(structure, list) or not 1 <= len(structure) <= 200:
        errors["structure"] = N_("Add at least one question or random draw.")
        structure = []
    cleaned = []
    for index, slot in enumerate(structure):
        try:
            kind = slot.get("kind", "fixed")
            marks = Decimal(str(slot.get("marks") or "1")).quantize(Decimal("0.01"))
            if kind not in ("fixed", "random") or not Decimal("0") < marks <= 100:
                raise ValueError
            entry: dict[str, Any] = {"kind": kind, "marks": str(marks)}
            if kind == "fixed":
                question_id = slot.get("question_id")
                if not isinstance(question_id, int) or not 0 < question_id <= MAX_ID:
                    raise ValueError
                entry["question_id"] = question_id
            else:
                count = slot.get("count")
                if not isinstance(count, int) or not 1 <= count <= 200:
                    raise ValueError
                entry |= {"count": count, "category": str(slot.get("category") or "").strip()[:200]}
                entry["difficulty"] = (
                    slot.get("difficulty") if slot.get("difficulty") in (1, 2, 3, 4, 5) else None
                )
            cleaned.append(entry)
        except (AttributeError, ArithmeticError, ValueError, TypeError):
            message = N_("Each line needs a question (or a category and a count) and its marks.")
            errors["structure"] = errors[f"structure.{index}"] = message
    if not errors.get("structure") and not errors.get("bank_ids"):
        _check_fixed_questions(cleaned, bank_ids, errors)
    values["structure"] = cleaned
    course_id = data.get("course_id")
    if course_id is not None:
        error = _course_error(actor, course_id, exam)
        if error:
            errors["course_id"] = error
    values["course_id"] = course_id
    for name in (
        "shuffle_questions",
        "shuffle_options",
        "one_per_page",
        "review_after_close",
        "required_for_completion",
    ):
        values[name] = bool(data.get(name, name.startswith("shuffle")))
    values["required_for_completion"] = values["required_for_completion"] and course_id is not None
    limit = data.get("time_limit_minutes")
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 600):
        errors["time_limit_minutes"] = N_("A time limit is 1 to 600 minutes, or none.")
    values["time_limit_minutes"] = limit
    values["opens_at"] = _date(data.get("opens_at"), "opens_at", errors)
    values["closes_at"] = _date(data.get("closes_at"), "closes_at", errors)
    if values["opens_at"] and values["closes_at"] and values["closes_at"] <= values["opens_at"]:
        errors["closes_at"] = N_("The test must close after it opens.")
    attempts = data.get("max_attempts", 1)
    if not isinstance(attempts, int) or not 1 <= attempts <= 10:
        errors["max_attempts"] = N_("Allow 1 to 10 attempts.")
    values["max_attempts"] = attempts
    values["grading"] = data.get("grading", "highest")
    if values["grading"] not in ("highest", "last"):
        errors["grading"] = N_("Not a valid choice.")
    passing = data.get("pass_percent", 60)
    if not isinstance(passing, int) or not 0 <= passing <= 100:
        errors["pass_percent"] = N_("The pass mark is a percentage from 0 to 100.")
    values["pass_percent"] = passing
    values["review"] = data.get("review", "answers")
    if values["review"] not in ("score", "answers", "explanations"):
        errors["review"] = N_("Not a valid choice.")
    try:
        hours = Decimal(str(data.get("credit_hours", "0"))).quantize(Decimal("0.01"))
        if not Decimal("0") <= hours <= Decimal("50"):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["credit_hours"] = N_("Learning hours must be a number from 0 to 50.")
        hours = Decimal("0")
    values["credit_hours"] = hours
    if errors:
        raise ValidationFailed(fields=errors)
    return values


def _check_fixed_questions(
    structure: list[dict[str, Any]], bank_ids: list[int], errors: dict[str, str]
) -> None:
    """A fixed question comes from one of the test's banks (a paper draws only from them), once."""
    fixed = [(index, slot["question_id"]) for index, slot in enumerate(structure) if slot["kind"] == "fixed"]
    if not fixed:
        return
    known = set(
        db.session.scalars(
            select(Question.id).where(
                Question.id.in_([question_id for _, question_id in fixed]),
                Question.bank_id.in_(bank_ids or [0]),
                Question.is_archived.is_(False),
            )
        )
    )
    seen: set[int] = set()
    for index, question_id in fixed:
        if question_id not in known:
            errors["structure"] = errors[f"structure.{index}"] = N_(
                "This question is not in the chosen banks."
            )
        elif question_id in seen:
            errors["structure"] = errors[f"structure.{index}"] = N_("This question is on the test twice.")
        seen.add(question_id)


def _snapshot(exam: Exam) -> dict[str, Any]:
    values = {name: getattr(exam, name) for name in FIELDS}
    for name in ("opens_at", "closes_at"):
        values[name] = values[name].isoformat() if values[name] else None
    values["credit_hours"] = str(values["credit_hours"])
    return values


def save_exam(*, actor: User, data: dict[str, Any], exam: Exam | None = None) -> Exam:
    """Create or change a test from its fields (the API's JSON, or the web form's); all fields are
    checked first, so an invalid change writes nothing. Audited."""
    if exam is None and not (is_teacher(actor) or admin_scope(actor).is_admin):
        raise PermissionDenied(N_("Only teachers and administrators write tests."))
    values = _clean(actor, data, exam)
    before = _snapshot(exam) if exam is not None else None
    if exam is None:
        exam = Exam(org_id=actor.org_id, owner_id=actor.id, status=ExamStatus.DRAFT)
        db.session.add(exam)
    # (attempts already taken pinned their papers: a changed structure only affects new attempts)
    for name, value in values.items():
        setattr(exam, name, value)
    db.session.flush()
    after = _snapshot(exam)
    where = {"target_type": "exam", "target_id": exam.id, "target_label": exam.title}
    if before is None:
        record(actor=actor, action="exam.create", org_path=_org_path(exam.org_id), after=after, **where)
    else:
        record_change(
            actor=actor,
            action="exam.update",
            org_path=_org_path(exam.org_id),
            before=before,
            after=after,
            **where,
        )
    return exam


def publish(*, actor: User, exam: Exam) -> Exam:
    """Open the test to cadres, once its banks can fill its paper."""
    if not can_manage(actor, exam):
        raise NotFound()
    check_paper(exam)
    exam.status = ExamStatus.PUBLISHED
    db.session.flush()
    record(
        actor=actor,
        action="exam.publish",
        target_type="exam",
        target_id=exam.id,
        target_label=exam.title,
        org_path=_org_path(exam.org_id),
        after={"status": "published"},
    )
    return exam


# ----------------------------------------------------------------------------------------------------
# Marking short answers


def marking_queue(actor: User, limit: int = 50) -> list[tuple[AttemptAnswer, Attempt, Exam, QuestionVersion]]:
    rows = db.session.execute(
        select(AttemptAnswer, Attempt, Exam)
        .join(Attempt, Attempt.id == AttemptAnswer.attempt_id)
        .join(Exam, Exam.id == Attempt.exam_id)
        .where(AttemptAnswer.needs_marking.is_(True), Attempt.status == AttemptStatus.SUBMITTED)
        .order_by(Attempt.submitted_at)
        .limit(limit * 4)
    ).all()
    result = []
    for answer, attempt, exam in rows:
        if can_manage(actor, exam):
            version = db.session.get(QuestionVersion, attempt.paper[answer.position]["version_id"])
            assert version is not None
            result.append((answer, attempt, exam, version))
        if len(result) >= limit:
            break
    return result


def mark_answer(
    *, actor: User, answer_id: int, score: object, feedback: str = "", now: datetime
) -> AttemptAnswer:
    answer = db.session.get(AttemptAnswer, answer_id) if 0 < answer_id <= MAX_ID else None
    attempt = (
        db.session.scalar(select(Attempt).where(Attempt.id == answer.attempt_id).with_for_update())
        if answer
        else None
    )
    exam = db.session.get(Exam, attempt.exam_id) if attempt else None
    if answer is None or attempt is None or exam is None or not can_manage(actor, exam):
        raise NotFound()
    maximum = Decimal(attempt.paper[answer.position]["marks"])
    try:
        value = Decimal(str(score)).quantize(Decimal("0.01"))
        if not Decimal("0") <= value <= maximum:
            raise InvalidOperation
    except (InvalidOperation, ValueError) as error:
        raise ValidationFailed(
            fields={"score": N_("Give a score from 0 to the question's marks.")}
        ) from error
    before = {"score": str(answer.score) if answer.score is not None else None}
    answer.score, answer.feedback = value, feedback.strip()[:2000]
    answer.needs_marking, answer.marked_by_id, answer.marked_at = False, actor.id, now
    db.session.flush()
    record(
        actor=actor,
        action="exam.mark",
        target_type="exam_answer",
        target_id=answer.id,
        target_label=exam.title,
        org_path=_org_path(exam.org_id),
        before=before,
        after={"score": str(value)},
    )
    waiting = db.session.scalar(
        select(AttemptAnswer.id).where(
            AttemptAnswer.attempt_id == attempt.id, AttemptAnswer.needs_marking.is_(True)
        )
    )
    if waiting is None and attempt.status == AttemptStatus.SUBMITTED:
        finish_grading(attempt=attempt, exam=exam)
    return answer


# ----------------------------------------------------------------------------------------------------
# Results


def counted_attempts(exam: Exam) -> list[Attempt]:
    """Per cadre, the attempt that counts (highest score or last, per the test's rule)."""
    attempts = db.session.scalars(
        select(Attempt)
        .where(Attempt.exam_id == exam.id, Attempt.status == AttemptStatus.GRADED)
        .order_by(Attempt.user_id, Attempt.number)
    )
    best: dict[int, Attempt] = {}
    for attempt in attempts:
        held = best.get(attempt.user_id)
        if held is None or exam.grading == "last" or (attempt.score or 0) > (held.score or 0):
            best[attempt.user_id] = attempt
    return list(best.values())


def question_statistics(exam: Exam) -> list[dict[str, Any]]:
    """Facility and discrimination per question, over every graded attempt."""
    attempts = list(
        db.session.scalars(
            select(Attempt).where(Attempt.exam_id == exam.id, Attempt.status == AttemptStatus.GRADED)
        )
    )
    if not attempts:
        return []
    totals = {a.id: Decimal(a.score or 0) for a in attempts}
    rows: dict[int, list[tuple[Decimal, Decimal, Decimal]]] = {}
    for answer in db.session.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id.in_(list(totals)))):
        attempt = next(a for a in attempts if a.id == answer.attempt_id)
        item = attempt.paper[answer.position]
        rows.setdefault(item["question_id"], []).append(
            (Decimal(answer.score or 0), Decimal(item["marks"]), totals[attempt.id])
        )
    result = []
    for question_id, data in sorted(rows.items()):
        stats = item_statistics(data)
        result.append(
            {
                "question_id": question_id,
                "attempts": stats.attempts,
                "facility": stats.facility,
                "discrimination": stats.discrimination,
            }
        )
    return result


def export_results(exam: Exam) -> bytes:
    """The counted attempt of every cadre as an .xlsx (unit, name, login, score, pass, submitted at)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("成绩")
    sheet.append(["单位", "姓名", "账号", "第几次", "得分", "满分", "是否通过", "提交时间", "自动交卷"])
    for attempt in sorted(counted_attempts(exam), key=lambda a: a.user_id):
        user = db.session.get(User, attempt.user_id)
        assert user is not None
        sheet.append(
            [
                user.org.name,
                user.display_name,
                user.login_name,
                attempt.number,
                float(attempt.score or 0),
                float(attempt.max_score),
                "通过" if attempt.passed else "未通过",
                attempt.submitted_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
                if attempt.submitted_at
                else "",
                "是" if attempt.auto_submitted else "否",
            ]
        )
    stats = book.create_sheet("试题分析")
    stats.append(["题目编号", "作答人次", "难度系数（得分率）", "区分度"])
    for row in question_statistics(exam):
        stats.append([row["question_id"], row["attempts"], row["facility"], row["discrimination"]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
