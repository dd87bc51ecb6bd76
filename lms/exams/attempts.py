"""Attempts run on the server: its clock sets the deadline, answers autosave one by one, an attempt past
its deadline is submitted (on its next request, or by the sweep), one device holds an attempt at a time,
and the answer key never leaves the server before review.

Concurrency: every change to an attempt's state locks its row (``SELECT … FOR UPDATE``); starting one
locks the cadre's previous attempts of the exam, and the unique (exam, user, number) settles any remaining
race, so the attempt limit holds when two starts or two submissions race. An autosave is one statement
that holds the attempt's row in ``FOR KEY SHARE`` (which only ``FOR UPDATE`` waits for) while it writes
the answer: a submission either waits for the save and grades it, or the save waits for the submission
and, finding the attempt no longer open, writes nothing and is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Integer, String, bindparam, false, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import ApiToken, Organization, User
from lms.accounts.services import TOKEN_IS_VALID, token_params
from lms.catalog.queries import get_published_course
from lms.core.db import UTCDateTime, db, insert_ignoring_conflicts
from lms.core.errors import Conflict, InvalidState, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.exams.grading import grade, public_content, review_content, validate_answer_shape
from lms.exams.models import (
    Attempt,
    AttemptAnswer,
    AttemptStatus,
    Exam,
    ExamStatus,
    Question,
    QuestionVersion,
)
from lms.exams.papers import Candidate, NotEnoughQuestions, Slot, assemble
from lms.learning.models import EntryKind, LedgerEntry, SourceKind

MAX_ID = 2**31 - 1
DEVICE_GRACE = timedelta(seconds=45)  # a device silent this long may be replaced by another
SUBMIT_GRACE = timedelta(seconds=5)  # network latency allowed for a save sent just before the deadline


class ExamClosed(InvalidState):
    code = "exam_closed"
    message = N_("This test is not open now.")


class NoAttemptsLeft(Conflict):
    code = "no_attempts_left"
    message = N_("You have used all %(allowed)s attempt(s) of this test.")


class TimeIsUp(Conflict):
    code = "time_is_up"
    message = N_("Time is up: the attempt was submitted and no more answers are accepted.")


class OtherDevice(Conflict):
    code = "attempt_on_other_device"
    message = N_("This attempt is open on another device. Close it there, or wait a minute and try again.")


class AttemptFinished(Conflict):
    code = "attempt_finished"
    message = N_("This attempt has already been submitted.")


class PaperUnavailable(InvalidState):
    code = "paper_unavailable"
    message = N_("The test cannot be assembled: its question banks do not have enough questions.")


def _org_path(org_id: int) -> str:
    return db.session.scalar(select(Organization.path).where(Organization.id == org_id)) or ""


def get_exam_for_learner(actor: User, exam_id: int) -> Exam:
    """A published test the cadre may take: a quiz of a course they may see, or an exam of their org tree."""
    exam = db.session.get(Exam, exam_id) if 0 < exam_id <= MAX_ID else None
    if exam is None or exam.status != ExamStatus.PUBLISHED:
        raise NotFound()
    if exam.course_id is not None:
        get_published_course(actor, exam.course_id)
    elif not actor.org.path.startswith(_org_path(exam.org_id)):
        raise NotFound()
    return exam


def get_own_attempt(actor: User, attempt_id: int, *, lock: bool = True) -> Attempt:
    stmt = select(Attempt).where(Attempt.id == attempt_id)
    attempt = (
        db.session.scalar(stmt.with_for_update() if lock else stmt) if 0 < attempt_id <= MAX_ID else None
    )
    if attempt is None or attempt.user_id != actor.id:
        raise NotFound()
    return attempt


# ----------------------------------------------------------------------------------------------------
# Starting


def _paper(exam: Exam, seed: int, exclude: set[int]) -> tuple[list[dict[str, Any]], Decimal]:
    rows = db.session.execute(
        select(
            Question.id, Question.category, Question.difficulty, QuestionVersion.id, QuestionVersion.content
        )
        .join(QuestionVersion, QuestionVersion.id == Question.current_version_id)
        .where(Question.bank_id.in_(exam.bank_ids or [0]), Question.is_archived.is_(False))
    ).all()
    versions = {qid: (vid, content) for qid, _, _, vid, content in rows}
    pool = [Candidate(question_id=qid, category=cat or "", difficulty=diff) for qid, cat, diff, _, _ in rows]
    option_keys = {
        qid: [o["key"] for o in content.get("options", [])]
        for qid, (_, content) in versions.items()
        if content.get("type") in ("single", "multiple")
    }
    slots = [
        Slot(
            kind=item.get("kind", "fixed"),
            question_id=item.get("question_id"),
            category=item.get("category"),
            difficulty=item.get("difficulty"),
            count=int(item.get("count") or 1),
            marks=Decimal(str(item.get("marks") or "1")),
        )
        for item in exam.structure
    ]
    try:
        items = assemble(
            slots,
            pool,
            option_keys,
            seed=seed,
            shuffle_questions=exam.shuffle_questions,
            shuffle_options=exam.shuffle_options,
            exclude=exclude,
        )
    except (NotEnoughQuestions, KeyError) as error:
        raise PaperUnavailable() from error
    paper = [
        {
            "version_id": versions[item.question_id][0],
            "question_id": item.question_id,
            "marks": str(item.marks),
            "options": list(item.option_order) if item.option_order else None,
            "type": versions[item.question_id][1]["type"],  # autosave validates without loading the question
        }
        for item in items
    ]
    return paper, sum((item.marks for item in items), Decimal("0"))


def check_paper(exam: Exam) -> None:
    """``PaperUnavailable`` unless the test's banks can fill its paper (checked when it is published)."""
    _paper(exam, 0, set())


@dataclass(frozen=True)
class Opened:
    attempt: Attempt
    device_token: str
    resumed: bool


def open_attempt(*, actor: User, exam: Exam, now: datetime, device_token: str | None = None) -> Opened:
    """Resume the cadre's attempt in progress (on this device, or a device gone quiet) or start a new one."""
    attempts = list(
        db.session.scalars(
            select(Attempt)
            .where(Attempt.exam_id == exam.id, Attempt.user_id == actor.id)
            .order_by(Attempt.number)
            .with_for_update()
        )
    )
    current = next((a for a in attempts if a.status == AttemptStatus.IN_PROGRESS), None)
    if current is not None:
        if _expired(current, now):
            submit(attempt=current, exam=exam, actor=actor, now=now, automatic=True)
        else:
            return Opened(current, _take_device(current, device_token, now), True)
    if (exam.opens_at and now < exam.opens_at) or (exam.closes_at and now >= exam.closes_at):
        raise ExamClosed()
    used = len(attempts)
    if used >= exam.max_attempts:
        raise NoAttemptsLeft(allowed=exam.max_attempts)
    seed = secrets.randbelow(2**31)
    previous = {item["question_id"] for a in attempts for item in a.paper}
    paper, total = _paper(exam, seed, previous)
    deadline = None
    if exam.time_limit_minutes:
        deadline = now + timedelta(minutes=exam.time_limit_minutes)
    if exam.closes_at and (deadline is None or exam.closes_at < deadline):
        deadline = exam.closes_at
    token = secrets.token_urlsafe(18)
    attempt = Attempt(
        exam_id=exam.id,
        user_id=actor.id,
        number=used + 1,
        status=AttemptStatus.IN_PROGRESS,
        started_at=now,
        deadline_at=deadline,
        paper=paper,
        max_score=total,
        device_token=token,
        device_seen_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError as error:  # another start won the race for this number
        raise NoAttemptsLeft(allowed=exam.max_attempts) from error
    return Opened(attempt, token, False)


def _take_device(attempt: Attempt, token: str | None, now: datetime) -> str:
    if token and secrets.compare_digest(token, attempt.device_token):
        attempt.device_seen_at = now
        return attempt.device_token
    if now - _device_last_seen(attempt) < DEVICE_GRACE:
        raise OtherDevice()
    attempt.device_token = secrets.token_urlsafe(18)  # the old device's saves are refused from now on
    attempt.device_seen_at = now
    return attempt.device_token


def _device_last_seen(attempt: Attempt) -> datetime:
    """When the device holding the attempt was last heard from: it opened the attempt, or saved an answer
    (only the holding device's saves are accepted, so the latest save is its), whichever came later.
    Saves do not write the attempt's row."""
    saved = db.session.scalar(
        select(func.max(AttemptAnswer.saved_at)).where(AttemptAnswer.attempt_id == attempt.id)
    )
    return max(attempt.device_seen_at, saved) if saved is not None else attempt.device_seen_at


def _expired(attempt: Attempt, now: datetime) -> bool:
    return attempt.deadline_at is not None and now >= attempt.deadline_at


# ----------------------------------------------------------------------------------------------------
# The paper as the browser sees it


def paper_view(attempt: Attempt, exam: Exam, now: datetime) -> list[dict[str, Any]]:
    """Questions in the attempt's order with its option order, and the saved answers; the answer key and
    explanations only once review is allowed."""
    versions = {
        v.id: v
        for v in db.session.scalars(
            select(QuestionVersion).where(QuestionVersion.id.in_([i["version_id"] for i in attempt.paper]))
        )
    }
    answers = {
        a.position: a
        for a in db.session.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt.id))
    }
    reviewing = review_level(attempt, exam, now)
    items = []
    for position, item in enumerate(attempt.paper):
        content = versions[item["version_id"]].content
        shown = (
            review_content(content) if reviewing in ("answers", "explanations") else public_content(content)
        )
        if reviewing == "answers":
            shown.pop("explanation", None)
        if item.get("options"):
            order = {key: i for i, key in enumerate(item["options"])}
            shown["options"] = sorted(shown.get("options", []), key=lambda o: order.get(o["key"], 99))
        saved = answers.get(position)
        entry: dict[str, Any] = {
            "position": position,
            "marks": float(Decimal(item["marks"])),
            "question": shown,
            "answer": saved.answer if saved else None,
        }
        if reviewing is not None and saved is not None and attempt.status == AttemptStatus.GRADED:
            entry["score"] = float(saved.score) if saved.score is not None else None
            entry["feedback"] = saved.feedback
        items.append(entry)
    return items


def review_level(attempt: Attempt, exam: Exam, now: datetime) -> str | None:
    """None while the attempt runs (and, with review after close, until the test closes)."""
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return None
    if exam.review_after_close and (exam.closes_at is None or now < exam.closes_at):
        return None
    return exam.review


# ----------------------------------------------------------------------------------------------------
# Autosave and submission


# The type of question an answer is shaped for, by its one recognised field ({"choice": …} → single, …)
_SHAPES = {
    "choice": "single",
    "choices": "multiple",
    "value": "true_false",
    "blanks": "fill_blank",
    "text": "short_answer",
}
MAX_POSITION = 10_000  # no paper is longer


def _quick_save_statement(insert: Any, *, by_token: bool) -> Any:
    """INSERT … SELECT … FROM exam_attempts WHERE <the save is allowed> ON CONFLICT DO UPDATE RETURNING:
    the answer is written only if the attempt is the cadre's, open, before its deadline (plus the grace),
    held by this device, and the question at that position is of the answer's type (so the position is
    on the paper); otherwise no row comes back. ``FOR KEY SHARE`` (PostgreSQL) holds the attempt's row
    against a submission's ``FOR UPDATE`` until the save commits, and makes a save that waited for a
    submission re-check the attempt's status and find it closed.

    ``by_token``: the cadre is whoever the bearer token (``token_params``) authenticates, checked in the
    same statement (``TOKEN_IS_VALID``, and no password change pending): no row for a bad token either.
    Otherwise the cadre is ``user_id`` (a signed-in page)."""
    attempts, answers = Attempt.__table__, AttemptAnswer.__table__
    allowed = select(
        attempts.c.id,
        bindparam("position", type_=Integer),
        bindparam("answer", type_=JSON),
        literal(1, Integer),
        bindparam("saved_at", type_=UTCDateTime()),
        false(),
        literal("", String),
    ).where(
        attempts.c.id == bindparam("attempt_id", type_=Integer),
        attempts.c.status == AttemptStatus.IN_PROGRESS.value,
        attempts.c.device_token == bindparam("device_token", type_=String),
        or_(
            attempts.c.deadline_at.is_(None),
            attempts.c.deadline_at > bindparam("cutoff", type_=UTCDateTime()),
        ),
        attempts.c.paper[bindparam("index", type_=JSON.JSONIntIndexType)]["type"].as_string()
        == bindparam("qtype", type_=String),
    )
    if by_token:
        allowed = (
            allowed.join(ApiToken, ApiToken.user_id == attempts.c.user_id)
            .join(User, TOKEN_IS_VALID)
            .where(User.must_change_password.is_(False))
        )
    else:
        allowed = allowed.where(attempts.c.user_id == bindparam("user_id", type_=Integer))
    stmt = insert(answers).from_select(
        ["attempt_id", "position", "answer", "saves", "saved_at", "needs_marking", "feedback"],
        allowed.with_for_update(read=True, key_share=True, of=attempts),
    )
    return stmt.on_conflict_do_update(
        index_elements=["attempt_id", "position"],
        set_={
            "answer": stmt.excluded.answer,
            "saves": answers.c.saves + 1,
            "saved_at": stmt.excluded.saved_at,
        },
    ).returning(answers.c.saved_at)


_QUICK_SAVE = {
    (dialect, by_token): _quick_save_statement(insert, by_token=by_token)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
    for by_token in (False, True)
}


def quick_save(
    *,
    attempt_id: int,
    position: int,
    answer: object,
    device_token: str,
    now: datetime,
    actor_id: int | None = None,
    bearer: str | None = None,
) -> datetime | None:
    """Autosave's hot path: one statement, no ORM objects, no attempt row lock beyond the save's own, for
    the cadre ``actor_id`` or whoever the ``bearer`` token authenticates (checked in the statement).
    Returns when the answer was saved, or ``None`` when this path cannot save it (a bad token, refused,
    expired, another device, a malformed answer, a paper from before types were stored…): then the
    caller authenticates the usual way and ``save_answer`` on the locked attempt explains why, submits
    an overdue attempt, or saves it after all."""
    if not (0 < attempt_id <= MAX_ID and 0 <= position < MAX_POSITION and device_token):
        return None
    if not isinstance(answer, dict):
        return None
    shapes = [_SHAPES[key] for key in answer if key in _SHAPES]
    if len(shapes) != 1:
        return None
    cleaned = validate_answer_shape(shapes[0], answer)
    if cleaned is None:
        return None
    params: dict[str, Any] = {
        "attempt_id": attempt_id,
        "device_token": device_token,
        "cutoff": now - SUBMIT_GRACE,
        "index": position,
        "qtype": shapes[0],
        "position": position,
        "answer": cleaned,
        "saved_at": now,
    }
    if bearer is not None:
        token = token_params(bearer, now)
        if token is None:
            return None
        params |= token
    elif actor_id is not None:
        params["user_id"] = actor_id
    else:
        return None
    connection = db.session.connection()
    statement = _QUICK_SAVE.get((connection.dialect.name, bearer is not None))
    if statement is None:
        return None
    row = connection.execute(statement, params).first()
    return None if row is None else row[0]


def save_answer(
    *,
    actor: User,
    attempt: Attempt,
    exam: Exam,
    position: int,
    answer: object,
    device_token: str,
    now: datetime,
) -> datetime:
    """One answer on the locked attempt (returns when it was saved): the slow path behind ``quick_save``.
    After the deadline (plus a few seconds for the network) the attempt is submitted and the answer
    refused."""
    if attempt.status != AttemptStatus.IN_PROGRESS:
        raise AttemptFinished()
    if attempt.deadline_at is not None and now >= attempt.deadline_at + SUBMIT_GRACE:
        submit(attempt=attempt, exam=exam, actor=actor, now=now, automatic=True)
        raise TimeIsUp()
    if not device_token or not secrets.compare_digest(device_token, attempt.device_token):
        raise OtherDevice()
    if not 0 <= position < len(attempt.paper):
        raise NotFound()
    qtype = attempt.paper[position].get("type")
    if qtype is None:  # papers from before the type was stored with them
        version = db.session.get(QuestionVersion, attempt.paper[position]["version_id"])
        assert version is not None
        qtype = version.content["type"]
    cleaned = validate_answer_shape(qtype, answer)
    if cleaned is None:  # refused whole: an unusable answer must not replace a good one already saved
        raise ValidationFailed(
            fields={"answer": N_("This answer does not fit the question. Please answer again.")}
        )
    # One statement: create or update the answer row, counting the saves
    dialect = db.session.get_bind().dialect.name
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(AttemptAnswer).values(
        attempt_id=attempt.id, position=position, answer=cleaned, saves=1, saved_at=now
    )
    stmt = insert.on_conflict_do_update(
        index_elements=["attempt_id", "position"],
        set_={"answer": insert.excluded.answer, "saves": AttemptAnswer.saves + 1, "saved_at": now},
    ).returning(AttemptAnswer.saved_at)
    return db.session.execute(stmt).scalar_one()


def submit(
    *, attempt: Attempt, exam: Exam, actor: User | None, now: datetime, automatic: bool = False
) -> Attempt:
    """Grade and close the (locked) attempt; submitting twice is harmless."""
    if attempt.status != AttemptStatus.IN_PROGRESS:
        return attempt
    versions = {
        v.id: v
        for v in db.session.scalars(
            select(QuestionVersion).where(QuestionVersion.id.in_([i["version_id"] for i in attempt.paper]))
        )
    }
    answers = {
        a.position: a
        for a in db.session.scalars(select(AttemptAnswer).where(AttemptAnswer.attempt_id == attempt.id))
    }
    pending = False
    for position, item in enumerate(attempt.paper):
        row = answers.get(position)
        if row is None:
            row = AttemptAnswer(attempt_id=attempt.id, position=position, answer=None, saves=0)
            db.session.add(row)
        result = grade(versions[item["version_id"]].content, row.answer, Decimal(item["marks"]))
        row.score, row.detail = result.score, result.detail
        row.needs_marking = result.score is None
        pending = pending or row.needs_marking
    attempt.submitted_at = min(now, attempt.deadline_at) if automatic and attempt.deadline_at else now
    attempt.auto_submitted = automatic
    attempt.status = AttemptStatus.SUBMITTED
    db.session.flush()
    if not pending:
        finish_grading(attempt=attempt, exam=exam)
    return attempt


def finish_grading(*, attempt: Attempt, exam: Exam) -> None:
    """Total the scores once nothing waits for a teacher; a pass may credit hours (once per test)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(AttemptAnswer.score), 0)).where(AttemptAnswer.attempt_id == attempt.id)
    )
    attempt.score = Decimal(str(total)).quantize(Decimal("0.01"))
    attempt.passed = attempt.max_score > 0 and attempt.score * 100 >= attempt.max_score * exam.pass_percent
    attempt.status = AttemptStatus.GRADED
    db.session.flush()
    if attempt.passed:
        _credit_pass(attempt, exam)


def _credit_pass(attempt: Attempt, exam: Exam) -> None:
    from lms.learning.credits import maybe_complete_course, year_of

    user = db.session.get(User, attempt.user_id)
    assert user is not None
    when = attempt.submitted_at or attempt.started_at
    if exam.credit_hours > 0:
        db.session.execute(
            insert_ignoring_conflicts(LedgerEntry).values(
                user_id=user.id,
                org_id=user.org_id,
                year=year_of(when),
                hours=exam.credit_hours,
                kind=EntryKind.CREDIT,
                source_kind=SourceKind.TEST,
                category_id=None,
                use="elective",
                course_id=exam.course_id,
                title=exam.title,
                reference=f"exam:{exam.id}",
                reason="",
                created_at=when,
            )
        )
    if exam.course_id is not None and exam.required_for_completion:
        from flask import current_app

        from lms.catalog.models import Course

        course = db.session.get(Course, exam.course_id)
        if course is not None:
            maybe_complete_course(
                user=user, course=course, now=when, settings=current_app.extensions["lms.settings"]
            )


def sweep_overdue(now: datetime, limit: int = 500) -> int:
    """Submit attempts whose deadline passed without their cadre coming back (the beat runs this)."""
    ids = list(
        db.session.scalars(
            select(Attempt.id)
            .where(Attempt.status == AttemptStatus.IN_PROGRESS, Attempt.deadline_at <= now)
            .limit(limit)
        )
    )
    done = 0
    for attempt_id in ids:
        attempt = db.session.scalar(select(Attempt).where(Attempt.id == attempt_id).with_for_update())
        if attempt is None or attempt.status != AttemptStatus.IN_PROGRESS:
            continue
        exam = db.session.get(Exam, attempt.exam_id)
        assert exam is not None
        submit(attempt=attempt, exam=exam, actor=None, now=now, automatic=True)
        db.session.commit()
        done += 1
    return done
