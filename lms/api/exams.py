"""``/api/v1`` for online tests: banks and questions (import/export), tests, attempts, marking, results."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext

from lms.api.v1 import authenticate_bearer, deferred_bearer, require_bearer
from lms.core.db import db, utcnow
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.tabular import ImportRejected
from lms.core.web import current_actor, json_body
from lms.exams import attempts as attempt_service
from lms.exams import banks, manage
from lms.exams.models import Attempt, AttemptStatus, Exam, Question

bp = Blueprint("api_exams", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_bearer)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype=XLSX)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


# ----------------------------------------------------------------------------------------------------
# Banks


def bank_json(bank: Any) -> dict[str, Any]:
    return {"id": bank.id, "name": bank.name, "org_id": bank.org_id, "owner_id": bank.owner_id}


@bp.get("/question-banks")
def list_banks() -> Response:
    return jsonify(items=[bank_json(b) for b in banks.usable_banks(current_actor())])


@bp.post("/question-banks")
def create_bank() -> tuple[Response, int]:
    data = json_body()
    bank = banks.create_bank(
        actor=current_actor(),
        name=data.get("name"),
        org_id=data.get("org_id"),
        description=data.get("description"),
    )
    db.session.commit()
    return jsonify(bank=bank_json(bank)), 201


@bp.get("/question-banks/template.xlsx")
def bank_template() -> Response:
    from lms.exams.interchange import template_xlsx

    current_actor()
    return _xlsx(
        template_xlsx(), "%E9%A2%98%E5%BA%93%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
    )  # 题库导入模板


@bp.get("/question-banks/<int:bank_id>/questions")
def list_questions(bank_id: int) -> Response:
    actor = current_actor()
    bank = banks.get_bank(actor, bank_id, manage=True)
    return jsonify(
        items=[
            {
                "id": q.id,
                "external_id": q.external_id,
                "type": q.type,
                "category": q.category,
                "tags": q.tags,
                "difficulty": q.difficulty,
                "version": v.number,
                "marks": float(v.marks),
                "content": v.content,
            }
            for q, v in banks.bank_questions(bank)
        ]
    )


@bp.post("/question-banks/<int:bank_id>/questions")
def create_question(bank_id: int) -> tuple[Response, int]:
    actor = current_actor()
    bank = banks.get_bank(actor, bank_id, manage=True)
    question = banks.save_question(actor=actor, bank=bank, data=json_body())
    db.session.commit()
    return jsonify(question={"id": question.id, "version_id": question.current_version_id}), 201


@bp.put("/question-banks/<int:bank_id>/questions/<int:question_id>")
def update_question(bank_id: int, question_id: int) -> Response:
    actor = current_actor()
    bank = banks.get_bank(actor, bank_id, manage=True)
    question = db.session.get(Question, question_id)
    if question is None or question.bank_id != bank.id:
        raise NotFound()
    banks.save_question(actor=actor, bank=bank, data=json_body(), question=question)
    db.session.commit()
    return jsonify(question={"id": question.id, "version_id": question.current_version_id})


@bp.post("/question-banks/<int:bank_id>/import")
def import_bank(bank_id: int) -> tuple[Response, int]:
    actor = current_actor()
    bank = banks.get_bank(actor, bank_id, manage=True)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed(fields={"file": N_("Choose a file to import.")})
    try:
        counts = banks.import_questions(actor=actor, bank=bank, filename=upload.filename, data=upload.read())
    except ImportRejected as rejected:
        db.session.rollback()
        body = {
            "error": rejected.code,
            "message": gettext(rejected.message_id),
            "rows": [
                {"line": e.row, "column": e.column, "reason": gettext(e.reason)} for e in rejected.errors
            ],
        }
        return jsonify(body), 422
    db.session.commit()
    return jsonify(counts), 200


@bp.get("/question-banks/<int:bank_id>/export.xlsx")
def export_bank(bank_id: int) -> Response:
    bank = banks.get_bank(current_actor(), bank_id, manage=True)
    return _xlsx(banks.export_bank(bank), f"bank-{bank.id}.xlsx")


# ----------------------------------------------------------------------------------------------------
# Tests (authoring)


def exam_json(exam: Exam) -> dict[str, Any]:
    return {
        "id": exam.id,
        "title": exam.title,
        "status": str(exam.status),
        "course_id": exam.course_id,
        "time_limit_minutes": exam.time_limit_minutes,
        "opens_at": exam.opens_at.isoformat() if exam.opens_at else None,
        "closes_at": exam.closes_at.isoformat() if exam.closes_at else None,
        "max_attempts": exam.max_attempts,
        "grading": exam.grading,
        "pass_percent": exam.pass_percent,
        "one_per_page": exam.one_per_page,
        "review": exam.review,
        "review_after_close": exam.review_after_close,
        "credit_hours": float(exam.credit_hours),
        "required_for_completion": exam.required_for_completion,
    }


@bp.post("/exams")
def create_exam() -> tuple[Response, int]:
    exam = manage.save_exam(actor=current_actor(), data=json_body())
    db.session.commit()
    return jsonify(exam=exam_json(exam) | {"structure": exam.structure, "bank_ids": exam.bank_ids}), 201


@bp.put("/exams/<int:exam_id>")
def update_exam(exam_id: int) -> Response:
    actor = current_actor()
    exam = manage.save_exam(actor=actor, data=json_body(), exam=manage.get_managed_exam(actor, exam_id))
    db.session.commit()
    return jsonify(exam=exam_json(exam) | {"structure": exam.structure, "bank_ids": exam.bank_ids})


@bp.post("/exams/<int:exam_id>/publish")
def publish_exam(exam_id: int) -> Response:
    actor = current_actor()
    exam = manage.publish(actor=actor, exam=manage.get_managed_exam(actor, exam_id))
    db.session.commit()
    return jsonify(exam=exam_json(exam))


@bp.get("/exams/<int:exam_id>/results")
def exam_results(exam_id: int) -> Response:
    exam = manage.get_managed_exam(current_actor(), exam_id)
    counted = manage.counted_attempts(exam)
    return jsonify(
        attempts=[
            {
                "attempt_id": a.id,
                "user_id": a.user_id,
                "number": a.number,
                "score": float(a.score or 0),
                "max_score": float(a.max_score),
                "passed": a.passed,
                "auto_submitted": a.auto_submitted,
            }
            for a in counted
        ],
        statistics=manage.question_statistics(exam),
    )


@bp.get("/exams/<int:exam_id>/results.xlsx")
def export_results(exam_id: int) -> Response:
    exam = manage.get_managed_exam(current_actor(), exam_id)
    return _xlsx(manage.export_results(exam), f"exam-{exam.id}-results.xlsx")


@bp.get("/marking")
def marking_queue() -> Response:
    return jsonify(
        items=[
            {
                "answer_id": answer.id,
                "exam": {"id": exam.id, "title": exam.title},
                "attempt_id": attempt.id,
                "question": version.content,
                "answer": answer.answer,
                "max_score": float(attempt.paper[answer.position]["marks"]),
            }
            for answer, attempt, exam, version in manage.marking_queue(current_actor())
        ]
    )


@bp.post("/marking/<int:answer_id>")
def mark(answer_id: int) -> Response:
    data = json_body()
    answer = manage.mark_answer(
        actor=current_actor(),
        answer_id=answer_id,
        score=data.get("score"),
        feedback=str(data.get("feedback") or ""),
        now=utcnow(),
    )
    db.session.commit()
    return jsonify(answer_id=answer.id, score=float(answer.score or 0))


# ----------------------------------------------------------------------------------------------------
# Taking a test


def attempt_json(attempt: Attempt, exam: Exam, *, token: str | None = None) -> dict[str, Any]:
    now = utcnow()
    level = attempt_service.review_level(attempt, exam, now)
    body: dict[str, Any] = {
        "id": attempt.id,
        "exam": {"id": exam.id, "title": exam.title, "one_per_page": exam.one_per_page},
        "number": attempt.number,
        "status": str(attempt.status),
        "server_now": now.isoformat(),
        "deadline": attempt.deadline_at.isoformat() if attempt.deadline_at else None,
        "seconds_left": (
            max(0, int((attempt.deadline_at - now).total_seconds())) if attempt.deadline_at else None
        ),
        "items": attempt_service.paper_view(attempt, exam, now),
        "max_score": float(attempt.max_score),
    }
    if attempt.status != AttemptStatus.IN_PROGRESS:
        body["auto_submitted"] = attempt.auto_submitted
        body["score"] = float(attempt.score) if attempt.score is not None and level else None
        body["passed"] = attempt.passed if level else None
        body["awaiting_marking"] = attempt.status == AttemptStatus.SUBMITTED
    if token:
        body["device_token"] = token
    return body


@bp.post("/exams/<int:exam_id>/attempts")
def open_attempt(exam_id: int) -> tuple[Response, int]:
    actor = current_actor()
    exam = attempt_service.get_exam_for_learner(actor, exam_id)
    opened = attempt_service.open_attempt(
        actor=actor, exam=exam, now=utcnow(), device_token=request.headers.get("X-Attempt-Token")
    )
    db.session.commit()
    return jsonify(
        attempt_json(opened.attempt, exam, token=opened.device_token)
    ), 200 if opened.resumed else 201


def _locked(attempt_id: int) -> tuple[Attempt, Exam]:
    attempt = attempt_service.get_own_attempt(current_actor(), attempt_id)
    exam = db.session.get(Exam, attempt.exam_id)
    assert exam is not None
    return attempt, exam


@bp.get("/attempts/<int:attempt_id>")
def get_attempt(attempt_id: int) -> Response:
    attempt, exam = _locked(attempt_id)
    now = utcnow()
    if attempt.status == AttemptStatus.IN_PROGRESS and attempt.deadline_at and now >= attempt.deadline_at:
        attempt_service.submit(attempt=attempt, exam=exam, actor=current_actor(), now=now, automatic=True)
        db.session.commit()
    return jsonify(attempt_json(attempt, exam))


@bp.put("/attempts/<int:attempt_id>/answers/<int:position>")
def save_answer(attempt_id: int, position: int) -> Response:
    bearer = deferred_bearer()  # a bearer token is checked in the saving statement itself
    try:
        answer = json_body().get("answer")
    except ValidationFailed:
        if bearer is not None:
            require_bearer(bearer)  # a bad token is a 401 before a bad body is a 422
        raise
    device_token = request.headers.get("X-Attempt-Token", "")
    now = utcnow()
    saved_at = attempt_service.quick_save(
        attempt_id=attempt_id,
        position=position,
        answer=answer,
        device_token=device_token,
        now=now,
        actor_id=None if bearer is not None else current_actor().id,
        bearer=bearer,
    )
    if saved_at is None:  # refused, or not for the one-statement path: the locked attempt says why
        # End the transaction first: a save that waited for a submission keeps its share lock on the
        # attempt although it wrote nothing, and two such saves locking the row for update would deadlock.
        db.session.commit()
        if bearer is not None:
            require_bearer(bearer)  # 401 for a bad token
        actor = current_actor()
        attempt, exam = _locked(attempt_id)
        try:
            saved_at = attempt_service.save_answer(
                actor=actor,
                attempt=attempt,
                exam=exam,
                position=position,
                answer=answer,
                device_token=device_token,
                now=now,
            )
        except attempt_service.TimeIsUp:
            db.session.commit()  # the automatic submission stands
            raise
    db.session.commit()
    return jsonify(position=position, saved_at=saved_at.isoformat())


@bp.post("/attempts/<int:attempt_id>/submit")
def submit_attempt(attempt_id: int) -> Response:
    actor = current_actor()
    attempt, exam = _locked(attempt_id)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        if not secrets.compare_digest(request.headers.get("X-Attempt-Token", ""), attempt.device_token):
            raise attempt_service.OtherDevice()
        now = utcnow()
        late = attempt.deadline_at is not None and now >= attempt.deadline_at + attempt_service.SUBMIT_GRACE
        attempt_service.submit(attempt=attempt, exam=exam, actor=actor, now=now, automatic=late)
        db.session.commit()
    return jsonify(attempt_json(attempt, exam))
