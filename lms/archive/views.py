"""Training archive pages and downloads: a cadre's own (``/archive/``) and, for admins, those of the
cadres in the subtrees they administer (``/archive/users/<id>``); anyone else's is "not found"."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template
from flask_login import login_required

from lms.archive.archive import (
    KIND_LABELS,
    OTHER_CATEGORY,
    SOURCE_LABELS,
    USE_LABELS,
    archive_owner,
    build_archive,
)
from lms.archive.pdf import render_pdf
from lms.archive.xlsx import render_xlsx
from lms.core.db import utcnow
from lms.core.web import current_actor

bp = Blueprint("archive", __name__, url_prefix="/archive")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _page(user_id: int | None) -> str:
    actor = current_actor()
    user = archive_owner(actor, user_id)
    return render_template(
        "archive/archive.html",
        archive=build_archive(user, now=utcnow()),
        own=user.id == actor.id,
        kind_labels=KIND_LABELS,
        source_labels=SOURCE_LABELS,
        use_labels=USE_LABELS,
        other_category=OTHER_CATEGORY,
    )


def _download(user_id: int | None, ext: str) -> Response:
    actor = current_actor()
    user = archive_owner(actor, user_id)
    archive = build_archive(user, now=utcnow())
    if ext == "pdf":
        font = current_app.extensions["lms.settings"].pdf_font
        body, mimetype = render_pdf(archive, font_path=font), "application/pdf"
    else:
        body, mimetype = render_xlsx(archive), XLSX
    name = quote(f"培训档案-{user.display_name}-{archive.generated_at:%Y%m%d}.{ext}")
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=archive.{ext}; filename*=UTF-8''{name}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/")
@login_required
def mine() -> str:
    return _page(None)


@bp.get("/archive.pdf")
@login_required
def mine_pdf() -> Response:
    return _download(None, "pdf")


@bp.get("/archive.xlsx")
@login_required
def mine_xlsx() -> Response:
    return _download(None, "xlsx")


@bp.get("/users/<int:user_id>")
@login_required
def user_page(user_id: int) -> str:
    return _page(user_id)


@bp.get("/users/<int:user_id>.pdf")
@login_required
def user_pdf(user_id: int) -> Response:
    return _download(user_id, "pdf")


@bp.get("/users/<int:user_id>.xlsx")
@login_required
def user_xlsx(user_id: int) -> Response:
    return _download(user_id, "xlsx")
