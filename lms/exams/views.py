"""The cadre's test page (the attempt itself runs on the JSON API, driven by js/exam.js)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from lms.accounts.models import User
from lms.accounts.permissions import admin_scope, is_teacher
from lms.core.db import db, utcnow
from lms.core.errors import LmsError, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.tabular import ImportRejected
from lms.core.web import current_actor, error_text
from lms.exams import banks, forms, manage
from lms.exams.attempts import get_exam_for_learner
from lms.exams.models import Exam

bp = Blueprint("exams", __name__, url_prefix="/exams")


@bp.get("/<int:exam_id>")
@login_required
def take(exam_id: int) -> str:
    exam = get_exam_for_learner(current_actor(), exam_id)
    return render_template("exams/take.html", exam=exam)


def _author() -> User:
    actor = current_actor()
    if not (is_teacher(actor) or admin_scope(actor).is_admin):
        raise NotFound()
    return actor


@bp.get("/manage")
@login_required
def manage_page() -> str:
    actor = _author()
    return render_template(
        "exams/manage.html",
        banks=banks.usable_banks(actor),
        can_manage=lambda bank: banks.can_manage(actor, bank),
        queue=manage.marking_queue(actor, limit=20),
        exams=manage.my_exams(actor),
        errors=None,
    )


# ----------------------------------------------------------------------------------------------------
# Writing a test: the same service as POST/PUT /api/v1/exams

MAX_LISTED = 1000  # questions listed per bank for picking fixed questions


def _exam_form(actor: User, exam: Exam | None, shown: forms.ExamForm, errors: dict[str, str]) -> str:
    usable = manage.form_banks(actor, exam)
    questions = {bank.id: banks.bank_questions(bank)[:MAX_LISTED] for bank in usable}
    categories = sorted({q.category for rows in questions.values() for q, _ in rows if q.category})
    return render_template(
        "exams/exam_form.html",
        exam=exam,
        form=shown,
        errors=errors,
        banks=usable,
        questions=questions,
        max_listed=MAX_LISTED,
        categories=categories,
        courses=manage.editable_courses(actor, keep=exam.course_id if exam else None),
    )


def _save_exam_form(actor: User, exam: Exam | None) -> Response | tuple[str, int]:
    data, shown = forms.parse(request.form)
    try:
        saved = manage.save_exam(actor=actor, data=data, exam=exam)
    except ValidationFailed as failed:
        db.session.rollback()  # nothing written: the service checks every field first
        errors = {
            name: gettext(message) for name, message in forms.field_errors(failed.fields, shown).items()
        }
        if not failed.fields:
            errors["form"] = gettext(failed.message_id, **failed.params)
        return _exam_form(actor, exam, shown, errors), 422
    db.session.commit()
    flash(gettext("The test was saved."), "success")
    return redirect(url_for("exams.edit_exam", exam_id=saved.id))


@bp.route("/manage/tests/new", methods=["GET", "POST"])
@login_required
def new_exam() -> Response | str | tuple[str, int]:
    actor = _author()
    if request.method == "POST":
        return _save_exam_form(actor, None)
    return _exam_form(actor, None, forms.blank(), {})


@bp.route("/manage/tests/<int:exam_id>", methods=["GET", "POST"])
@login_required
def edit_exam(exam_id: int) -> Response | str | tuple[str, int]:
    actor = _author()
    exam = manage.get_managed_exam(actor, exam_id)
    if request.method == "POST":
        return _save_exam_form(actor, exam)
    return _exam_form(actor, exam, forms.of_exam(exam), {})


@bp.post("/manage/tests/<int:exam_id>/publish")
@login_required
def publish_exam(exam_id: int) -> Response:
    actor = _author()
    exam = manage.get_managed_exam(actor, exam_id)
    try:
        manage.publish(actor=actor, exam=exam)
    except LmsError as error:
        db.session.rollback()
        flash(error_text(error), "error")
        return redirect(url_for("exams.edit_exam", exam_id=exam_id))
    db.session.commit()
    flash(gettext("The test was published: cadres can take it now."), "success")
    return redirect(url_for("exams.edit_exam", exam_id=exam_id))


@bp.post("/manage/banks")
@login_required
def create_bank() -> Response:
    actor = _author()
    try:
        banks.create_bank(actor=actor, name=request.form.get("name", ""))
    except LmsError as error:
        db.session.rollback()
        flash(error_text(error), "error")
        return redirect(url_for("exams.manage_page"))
    db.session.commit()
    flash(gettext("The question bank was created."), "success")
    return redirect(url_for("exams.manage_page"))


@bp.post("/manage/banks/<int:bank_id>/import")
@login_required
def import_bank(bank_id: int) -> Response | str:
    actor = _author()
    bank = banks.get_bank(actor, bank_id, manage=True)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ValidationFailed(N_("Choose a file to import."))
        counts = banks.import_questions(actor=actor, bank=bank, filename=upload.filename, data=upload.read())
    except ImportRejected as rejected:
        db.session.rollback()
        return render_template(
            "exams/manage.html",
            banks=banks.usable_banks(actor),
            can_manage=lambda b: banks.can_manage(actor, b),
            queue=manage.marking_queue(actor, limit=20),
            exams=manage.my_exams(actor),
            errors=rejected.errors,
            rejected_bank=bank,
        )
    except LmsError as error:
        db.session.rollback()
        flash(gettext(error.message_id, **error.params), "error")
        return redirect(url_for("exams.manage_page"))
    db.session.commit()
    flash(
        gettext(
            "Imported into %(bank)s: %(created)s new, %(updated)s updated, %(unchanged)s unchanged.",
            bank=bank.name,
            **counts,
        ),
        "success",
    )
    return redirect(url_for("exams.manage_page"))


@bp.post("/manage/marking/<int:answer_id>")
@login_required
def mark(answer_id: int) -> Response:
    actor = _author()
    try:
        manage.mark_answer(
            actor=actor,
            answer_id=answer_id,
            score=request.form.get("score", ""),
            feedback=request.form.get("feedback", ""),
            now=utcnow(),
        )
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(url_for("exams.manage_page"))
    db.session.commit()
    flash(gettext("The answer was marked."), "success")
    return redirect(url_for("exams.manage_page"))
