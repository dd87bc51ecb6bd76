"""The cadre's test page (the attempt itself runs on the JSON API, driven by js/exam.js)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from lms.core.web import current_actor
from lms.exams.attempts import get_exam_for_learner

bp = Blueprint("exams", __name__, url_prefix="/exams")


@bp.get("/<int:exam_id>")
@login_required
def take(exam_id: int) -> str:
    exam = get_exam_for_learner(current_actor(), exam_id)
    return render_template("exams/take.html", exam=exam)
