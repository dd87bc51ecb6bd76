"""我的课程建设 (teachers and admins write courses), 课程审核 (admins of the owning unit review them) and
课程分类 (admins manage subcategories). Thin views: the catalog's services decide and audit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from lms.accounts import queries as account_queries
from lms.accounts.forms import ActionForm
from lms.accounts.models import Organization, User
from lms.accounts.permissions import is_teacher
from lms.accounts.web import current_scope
from lms.catalog import authoring, categories, materials, permissions, queries, services
from lms.catalog.models import (
    KIND_LABELS,
    USE_LABELS,
    Course,
    CourseMaterial,
    CourseRevision,
    CourseStatus,
    MaterialKind,
    RevisionStatus,
)
from lms.catalog.validation import clean_course_data
from lms.core.db import db, utcnow
from lms.core.errors import LmsError, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.core.web import current_actor, error_text, page_args
from lms.media.errors import StorageDown
from lms.media.models import AssetKind, AssetStatus, MediaAsset
from lms.media.storage import get_delivery, get_storage
from media_pipeline import ObjectNotFound, StorageUnavailable

from .forms import (
    CourseForm,
    MaterialForm,
    NewCourseForm,
    RejectForm,
    RenameForm,
    ReviewForm,
    SubcategoryForm,
    text_to_html,
)

bp = Blueprint("authoring", __name__, url_prefix="/authoring")
# Learners read a published course's material here (their course page links to it).
reading_bp = Blueprint("reading", __name__, url_prefix="/reading")
CHINA = ZoneInfo("Asia/Shanghai")
PDF_URL_TTL = timedelta(minutes=10)
log = logging.getLogger(__name__)

STATE_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("Awaiting review"),
    "rejected": N_("Sent back"),
    "published": N_("Published"),
    "archived": N_("Archived"),
}
REVISION_LABELS = {
    "draft": N_("a new revision is being written"),
    "in_review": N_("a new revision awaits review"),
    "rejected": N_("a new revision was sent back"),
}
ASSET_STATUS_LABELS = {
    AssetStatus.UPLOADED: N_("waiting to be processed"),
    AssetStatus.PROCESSING: N_("processing"),
    AssetStatus.READY: N_("ready"),
    AssetStatus.FAILED: N_("processing failed"),
    AssetStatus.TAKEN_DOWN: N_("taken down"),
}
KIND_NAMES = {AssetKind.VIDEO: N_("video"), AssetKind.AUDIO: N_("audio"), AssetKind.IMAGE: N_("image")}


def author_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require(permissions.can_author(current_actor()), "author")
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require(current_scope(current_actor()).is_admin, "admin")
        return view(*args, **kwargs)

    return wrapped


@bp.app_template_filter("authoring_time")
def authoring_time(moment: datetime | None) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


@bp.app_template_filter("clock")
def clock(seconds: float | int | None) -> str:
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _load(course_id: int) -> tuple[User, Course, Organization]:
    """A course the actor may open in the editor, with its unit (anything else is a 404)."""
    actor = current_actor()
    course = queries.get_editable_course(actor, current_scope(actor), course_id)
    org = account_queries.find_org(course.org_id)
    if org is None:
        raise NotFound()
    return actor, course, org


def _indent(org: Organization, top: int) -> str:
    return "　" * max(0, org.depth - top) + org.name


def _org_choices(orgs: list[Organization]) -> list[SelectChoice]:
    top = min((o.depth for o in orgs), default=0)
    return [SelectChoice(o.id, _indent(o, top)) for o in orgs]


def _cover_url(asset: MediaAsset | None) -> str | None:
    if asset is None or asset.status != AssetStatus.READY or not asset.playlist_key:
        return None
    return get_delivery().object_url(asset.playlist_key, utcnow())


def _show_errors(form: Any, failed: LmsError) -> list[str]:
    """Put a service's field errors next to the fields; returns the lessons' errors (shown above the
    lesson list) and adds anything without a field to the form's errors."""
    lesson_errors = []
    for name, message in failed.fields.items():
        field = getattr(form, name, None)
        text = gettext(message)
        if name == "lessons":
            lesson_errors.append(text)
        elif field is not None:
            field.errors = [*field.errors, text]
        else:
            form.form_errors.append(text)
    if not failed.fields:
        form.form_errors.append(gettext(failed.message_id, **failed.params))
    return lesson_errors


# --- 我的课程建设 ------------------------------------------------------------------------------------


@bp.get("/")
@author_required
def index() -> str:
    actor = current_actor()
    scope = current_scope(actor)
    args = page_args()
    state = request.args.get("state", "")
    state = state if state in authoring.STATES else ""
    q = request.args.get("q", "")[:100]
    page = authoring.list_my_courses(actor, scope, state=state, q=q, page=args.page, per_page=args.per_page)
    return render_template(
        "catalog/index.html",
        page=page,
        states={c.id: authoring.state_of(c) for c in page.items},
        state=state,
        q=q,
        state_labels=STATE_LABELS,
        revision_labels=REVISION_LABELS,
        org_names=account_queries_names({c.org_id for c in page.items}),
        is_reviewer=scope.is_admin,
    )


def account_queries_names(org_ids: set[int]) -> dict[int, str]:
    orgs = (account_queries.find_org(i) for i in sorted(org_ids))
    return {o.id: o.name for o in orgs if o is not None}


CREATED = N_("The draft was created. Now fill in the course and add its lessons.")


@bp.route("/new", methods=["GET", "POST"])
@author_required
def new() -> Response | tuple[str, int] | str:
    actor = current_actor()
    orgs = authoring.creation_orgs(actor, current_scope(actor))
    form = NewCourseForm()
    form.org_id.choices = _org_choices(orgs)
    if request.method == "GET":
        form.org_id.data = actor.org_id if any(o.id == actor.org_id for o in orgs) else orgs[0].id
    if request.method == "POST":
        chosen = form.validate()  # the unit and type offered (the CSRF token was checked already)
        try:
            # Checked even when a choice is wrong, so that every problem shows at once.
            data = clean_course_data(
                {
                    "title": form.title.data,
                    "kind": form.kind.data if chosen else None,
                    "teacher_ids": [actor.id] if is_teacher(actor) else [],
                }
            )
            if chosen:
                org = next(o for o in orgs if o.id == form.org_id.data)
                course = services.create_course(actor=actor, org=org, data=data)
                db.session.commit()
                flash(gettext(CREATED), "success")
                return redirect(url_for("authoring.edit", course_id=course.id))
        except ValidationFailed as failed:
            db.session.rollback()
            _show_errors(form, failed)
    status = 422 if request.method == "POST" else 200
    return render_template("catalog/new.html", form=form), status


def _actions(actor: User, course: Course, org: Organization) -> dict[str, bool]:
    working = course.working_revision
    archived = course.status == CourseStatus.ARCHIVED
    in_review = working is not None and working.status == RevisionStatus.SUBMITTED
    reviewer = permissions.can_review(actor, org.path)
    return {
        "edit": not archived and not in_review and permissions.can_edit(actor, course, org.path),
        "submit": not archived
        and working is not None
        and working.status in (RevisionStatus.DRAFT, RevisionStatus.REJECTED)
        and permissions.can_edit(actor, course, org.path),
        "delete": course.status == CourseStatus.DRAFT
        and course.published_revision_id is None
        and not in_review
        and permissions.can_edit(actor, course, org.path),
        "archive": reviewer and not archived,
        "review": reviewer and in_review,
    }


def _lesson_details(revision: CourseRevision) -> dict[str, Any]:
    assets = authoring.assets_by_id(
        [int(x["media_asset_id"]) for x in revision.lessons if isinstance(x.get("media_asset_id"), int)]
    )
    materials = authoring.materials_by_id(
        [int(x["material_id"]) for x in revision.lessons if isinstance(x.get("material_id"), int)]
    )
    return {"assets": assets, "materials": materials}


@bp.get("/courses/<int:course_id>")
@author_required
def course(course_id: int, material_form: MaterialForm | None = None) -> str:
    actor, found, org = _load(course_id)
    working, published = found.working_revision, found.published_revision
    shown = working or published
    assert shown is not None
    cover = authoring.assets_by_id([shown.cover_asset_id]).get(shown.cover_asset_id or 0)
    return render_template(
        "catalog/course.html",
        course=found,
        org=org,
        revision=shown,
        state=authoring.state_of(found),
        state_labels=STATE_LABELS,
        revision_labels=REVISION_LABELS,
        actions=_actions(actor, found, org),
        diff=authoring.revision_diff(published, working) if working and published else None,
        summary=Markup(shown.summary_html),  # noqa: S704 - sanitized with nh3 when saved
        cover_url=_cover_url(cover),
        category=authoring.category_names().get(shown.category_id or 0, ""),
        teacher_list=_names_in_order(shown.teacher_ids),
        kind_label=KIND_LABELS.get(shown.kind, shown.kind),  # type: ignore[call-overload]
        use_label=USE_LABELS.get(shown.use, shown.use),  # type: ignore[call-overload]
        visible=authoring.org_names(shown.visibility_paths),
        asset_status=ASSET_STATUS_LABELS,
        action_form=ActionForm(),
        material_form=material_form or MaterialForm(formdata=None),
        **_lesson_details(shown),
    )


def _names_in_order(user_ids: list[int]) -> list[str]:
    names = authoring.user_names(user_ids)
    return [names[i] for i in user_ids if i in names]


def _category_choices(org: Organization, keep: int | None) -> list[SelectChoice]:
    choices = [SelectChoice(0, "—")]
    for group in categories.choices_for(org, keep):
        choices.append(SelectChoice(group.category.id, group.category.name))
        for child in group.children:
            label = f"　{group.category.name} · {child.name}"
            choices.append(
                SelectChoice(child.id, label + (gettext(" (retired)") if child.is_retired else ""))
            )
    return choices


def _asset_label(asset: MediaAsset) -> str:
    details = [gettext(KIND_NAMES.get(asset.kind, asset.kind))]
    if asset.duration_s:
        details.append(clock(asset.duration_s))
    return f"{asset.title}（{' '.join(details)}）"


def _initial(revision: CourseRevision) -> dict[str, Any]:
    return {
        "title": revision.title,
        "summary_html": revision.summary_html,
        "cover_asset_id": revision.cover_asset_id or 0,
        "teacher_ids": revision.teacher_ids,
        "lecturers": "、".join(revision.lecturers),
        "category_id": revision.category_id or 0,
        "tags": "、".join(revision.tags),
        "kind": str(revision.kind),
        "hours": f"{revision.hours:.2f}".rstrip("0").rstrip("."),
        "credit_rule": str(revision.credit_rule),
        "minutes_per_hour": str(revision.minutes_per_hour),
        "use": str(revision.use),
        "no_seek_ahead": revision.no_seek_ahead,
        "visibility_paths": revision.visibility_paths,
        "lessons": [
            {
                "key": lesson.get("key", ""),
                "title": lesson.get("title", ""),
                "media_asset_id": lesson.get("media_asset_id") or "",
                "material_id": lesson.get("material_id") or "",
                "duration_s": lesson.get("duration_s") or 0,
                "position": str(i + 1),
            }
            for i, lesson in enumerate(revision.lessons)
        ],
    }


@bp.route("/courses/<int:course_id>/edit", methods=["GET", "POST"])
@author_required
def edit(course_id: int) -> Response | tuple[str, int]:
    actor, found, org = _load(course_id)
    actions = _actions(actor, found, org)
    if not actions["edit"]:
        if found.status == CourseStatus.ARCHIVED:
            flash(gettext("An archived course cannot be edited."), "error")
        else:
            flash(gettext("This course is under review and cannot be edited now."), "error")
        return redirect(url_for("authoring.course", course_id=course_id))
    revision = found.working_revision or found.published_revision
    assert revision is not None
    form = CourseForm(data=_initial(revision)) if request.method == "GET" else CourseForm()
    in_course = {x.get("media_asset_id") for x in revision.lessons}
    addable = [a for a in authoring.lesson_assets(actor, []) if a.id not in in_course]
    form.cover_asset_id.choices = [SelectChoice(0, gettext("No cover"))] + [
        SelectChoice(a.id, a.title) for a in authoring.cover_assets(actor, revision.cover_asset_id)
    ]
    teachers = authoring.teacher_choices(revision.teacher_ids)
    orgs_of_teachers = account_queries_names({t.org_id for t in teachers})
    form.teacher_ids.choices = [
        SelectChoice(t.id, f"{t.display_name}（{orgs_of_teachers.get(t.org_id, '')}）") for t in teachers
    ]
    form.category_id.choices = _category_choices(org, revision.category_id)
    visible = authoring.visibility_orgs(org, revision.visibility_paths)
    top = min((o.depth for o in visible), default=0)
    form.visibility_paths.choices = [SelectChoice(o.path, _indent(o, top)) for o in visible]
    form.add_assets.choices = [SelectChoice(a.id, _asset_label(a)) for a in addable]
    lesson_errors: list[str] = []
    if request.method == "POST":
        chosen = form.validate()  # the choices offered (the CSRF token was checked already)
        added = {a.id: a for a in addable}
        new_lessons = [
            {
                "title": added[i].title[:200],
                "duration_s": round(added[i].duration_s or 0),
                "media_asset_id": i,
            }
            for i in form.add_assets.data or []
            if i in added
        ]
        try:
            if len(new_lessons) != len(form.add_assets.data or []):
                raise ValidationFailed(fields={"add_assets": N_("Not a valid choice.")})
            # Checked even when a choice is wrong, so that every problem shows at once.
            data = clean_course_data(form.course_data(new_lessons))
            if chosen:
                services.edit_course(
                    actor=actor,
                    course=found,
                    data=data,
                    visibility_paths=list(form.visibility_paths.data or []),
                )
                db.session.commit()
                flash(gettext("Saved. Submit the course for review when it is ready."), "success")
                return redirect(url_for("authoring.course", course_id=course_id))
        except ValidationFailed as failed:
            db.session.rollback()
            lesson_errors = _show_errors(form, failed)
    ids = [
        int(entry.form.media_asset_id.data)
        for entry in form.lessons.entries
        if str(entry.form.media_asset_id.data or "").isdigit()
    ]
    cover = authoring.assets_by_id([form.cover_asset_id.data or 0]).get(form.cover_asset_id.data or 0)
    page = render_template(
        "catalog/edit.html",
        course=found,
        org=org,
        form=form,
        new_revision=found.working_revision is None,
        lesson_errors=lesson_errors,
        lesson_assets=authoring.assets_by_id(ids),
        asset_status=ASSET_STATUS_LABELS,
        kind_names=KIND_NAMES,
        cover_url=_cover_url(cover),
    )
    return page, 422 if request.method == "POST" else 200


def _act(course_id: int, action: str) -> Response:
    """Submit, archive or delete (the CSRF token of every POST is checked by CSRFProtect)."""
    actor, found, _ = _load(course_id)
    title, keys = found.current.title, []
    try:
        if action == "submit":
            services.submit_for_review(actor=actor, course=found)
        elif action == "archive":
            services.archive(actor=actor, course=found)
        else:
            keys = services.delete_draft(actor=actor, course=found)
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(url_for("authoring.course", course_id=course_id))
    db.session.commit()
    if action == "delete":
        _delete_objects(keys)
        flash(gettext("The draft “%(title)s” was deleted.", title=title), "success")
        return redirect(url_for("authoring.index"))
    flash(gettext(DONE[action]), "success")
    return redirect(url_for("authoring.course", course_id=course_id))


DONE = {
    "submit": N_("Submitted for review. The admins of the course's unit will look at it."),
    "archive": N_("The course was archived: learners no longer find it in the catalog."),
}


@bp.post("/courses/<int:course_id>/submit")
@author_required
def submit(course_id: int) -> Response:
    return _act(course_id, "submit")


@bp.post("/courses/<int:course_id>/archive")
@author_required
def archive(course_id: int) -> Response:
    return _act(course_id, "archive")


@bp.post("/courses/<int:course_id>/delete")
@author_required
def delete(course_id: int) -> Response:
    return _act(course_id, "delete")


def _delete_objects(keys: list[str]) -> None:
    """Best effort after the commit: a PDF left behind is unreachable (no row points to it)."""
    for key in keys:
        try:
            get_storage().delete(key)
        except Exception:  # the deletion is committed; the store may be down
            log.warning("could not delete %s from the object store", key, exc_info=True)


# --- reading material ---------------------------------------------------------------------------


@bp.post("/courses/<int:course_id>/materials")
@author_required
def add_material(course_id: int) -> Response | tuple[str, int]:
    actor, found, _ = _load(course_id)
    form = MaterialForm()
    upload = request.files.get("pdf")
    pdf = None
    if upload is not None and upload.filename:
        try:
            pdf = materials.PdfUpload(upload.filename, upload.read())
        finally:
            upload.close()
    try:
        materials.add_material(
            actor=actor,
            course=found,
            title=form.title.data or "",
            text_html=text_to_html(form.text_html.data or ""),
            pdf=pdf,
            store=get_storage() if pdf is not None else None,
        )
    except ValidationFailed as failed:
        db.session.rollback()
        _show_errors(form, failed)
        return course(course_id, material_form=form), 422
    except StorageUnavailable as error:
        db.session.rollback()
        raise StorageDown() from error
    except LmsError as error:
        db.session.rollback()
        if error.http_status == 404:
            raise
        flash(error_text(error), "error")
        return redirect(url_for("authoring.course", course_id=course_id))
    db.session.commit()
    flash(
        gettext("The material was added as the last lesson. Submit the course for review when it is ready."),
        "success",
    )
    return redirect(url_for("authoring.course", course_id=course_id))


def _material_page(material: CourseMaterial, *, course_title: str, back: str, file_url: str | None) -> str:
    return render_template(
        "catalog/material.html",
        material=material,
        course_title=course_title,
        back=back,
        file_url=file_url,
        text=Markup(material.text_html),  # noqa: S704 - sanitized with nh3 when saved
    )


def _serve_pdf(material: CourseMaterial) -> Response:
    if material.kind != MaterialKind.PDF or not material.object_key:
        raise NotFound()
    store = get_storage()
    try:
        url = store.presigned_get_url(material.object_key, PDF_URL_TTL)
        if url is not None:
            return redirect(url)  # type: ignore[return-value]
        data = store.read(material.object_key)
    except ObjectNotFound as error:
        raise NotFound() from error
    except StorageUnavailable as error:
        raise StorageDown() from error
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/courses/<int:course_id>/materials/<int:material_id>")
@author_required
def preview_material(course_id: int, material_id: int) -> str:
    """For the course's editors and reviewers: a material of its working or published revision."""
    _, found, _ = _load(course_id)
    material = materials.material_in([found.working_revision, found.published_revision], material_id)
    file_url = url_for("authoring.material_file", course_id=course_id, material_id=material_id)
    return _material_page(
        material,
        course_title=found.current.title,
        back=url_for("authoring.course", course_id=course_id),
        file_url=file_url if material.kind == MaterialKind.PDF else None,
    )


@bp.get("/courses/<int:course_id>/materials/<int:material_id>/file")
@author_required
def material_file(course_id: int, material_id: int) -> Response:
    _, found, _ = _load(course_id)
    return _serve_pdf(materials.material_in([found.working_revision, found.published_revision], material_id))


def _readable(lesson_id: int) -> tuple[Course, CourseMaterial]:
    """A material lesson of a published course the learner may see; anything else is NotFound."""
    lesson, found = queries.get_visible_lesson(current_actor(), lesson_id)
    material = materials.find_material(lesson.material_id)
    if material is None:
        raise NotFound()
    return found, material


@reading_bp.get("/lessons/<int:lesson_id>")
@login_required
def lesson(lesson_id: int) -> str:
    found, material = _readable(lesson_id)
    file_url = url_for("reading.lesson_file", lesson_id=lesson_id)
    return _material_page(
        material,
        course_title=found.current.title,
        back=url_for("catalog.course", course_id=found.id),
        file_url=file_url if material.kind == MaterialKind.PDF else None,
    )


@reading_bp.get("/lessons/<int:lesson_id>/file")
@login_required
def lesson_file(lesson_id: int) -> Response:
    return _serve_pdf(_readable(lesson_id)[1])


# --- 课程审核 --------------------------------------------------------------------------------------


@bp.get("/review")
@admin_required
def review_queue() -> str:
    actor = current_actor()
    args = page_args()
    page = queries.list_review_queue(current_scope(actor), page=args.page, per_page=args.per_page)
    authors = authoring.user_names(sorted({c.created_by_id for c in page.items}))
    return render_template(
        "catalog/review_queue.html",
        page=page,
        authors=authors,
        org_names=account_queries_names({c.org_id for c in page.items}),
    )


def _reviewable(course_id: int) -> tuple[User, Course, Organization, CourseRevision]:
    actor, found, org = _load(course_id)
    require(permissions.can_review(actor, org.path), "review_course")
    working = found.working_revision
    if working is None or working.status != RevisionStatus.SUBMITTED:
        raise NotFound()
    return actor, found, org, working


def _render_review(
    found: Course, org: Organization, working: CourseRevision, reject_form: RejectForm | None = None
) -> str:
    published = found.published_revision
    cover = authoring.assets_by_id([working.cover_asset_id]).get(working.cover_asset_id or 0)
    return render_template(
        "catalog/review.html",
        course=found,
        org=org,
        revision=working,
        published=published,
        diff=authoring.revision_diff(published, working),
        summary=Markup(working.summary_html),  # noqa: S704 - sanitized with nh3 when saved
        cover_url=_cover_url(cover),
        author=authoring.user_names([found.created_by_id]).get(found.created_by_id, ""),
        approve_form=ReviewForm(formdata=None),
        reject_form=reject_form or RejectForm(formdata=None),
        asset_status=ASSET_STATUS_LABELS,
        **_lesson_details(working),
    )


@bp.get("/review/<int:course_id>")
@admin_required
def review(course_id: int) -> Response | str:
    actor, found, org = _load(course_id)
    require(permissions.can_review(actor, org.path), "review_course")
    working = found.working_revision
    if working is None or working.status != RevisionStatus.SUBMITTED:
        flash(gettext("This course has no revision waiting for review."), "error")
        return redirect(url_for("authoring.review_queue"))
    return _render_review(found, org, working)


@bp.post("/review/<int:course_id>/approve")
@admin_required
def approve(course_id: int) -> Response:
    actor, found, _, _ = _reviewable(course_id)
    form = ReviewForm()
    try:
        services.approve(actor=actor, course=found, comment=(form.comment.data or "").strip())
    except LmsError as error:
        db.session.rollback()
        flash(error_text(error), "error")
        return redirect(url_for("authoring.review", course_id=course_id))
    db.session.commit()
    flash(gettext("Approved and published: learners who may see it now find it in the catalog."), "success")
    return redirect(url_for("authoring.review_queue"))


@bp.post("/review/<int:course_id>/reject")
@admin_required
def reject(course_id: int) -> Response | tuple[str, int]:
    actor, found, org, working = _reviewable(course_id)
    form = RejectForm()
    try:
        services.reject(actor=actor, course=found, reason=form.reason.data or "")
    except ValidationFailed as failed:
        db.session.rollback()
        _show_errors(form, failed)
        return _render_review(found, org, working, form), 422
    db.session.commit()
    flash(gettext("Sent back to the teacher with your reason."), "success")
    return redirect(url_for("authoring.review_queue"))


# --- 课程分类 --------------------------------------------------------------------------------------


def _subcategory_form(form: SubcategoryForm, orgs: list[Organization]) -> SubcategoryForm:
    form.parent_id.choices = [SelectChoice(c.id, c.name) for c in categories.top_level()]
    form.org_id.choices = _org_choices(orgs)
    return form


def _render_categories(form: SubcategoryForm, rename_errors: dict[int, str] | None = None) -> str:
    actor = current_actor()
    return render_template(
        "catalog/categories.html",
        groups=categories.managed(current_scope(actor)),
        form=form,
        rename_form=RenameForm(formdata=None),
        rename_errors=rename_errors or {},
        action_form=ActionForm(),
        org_names=account_queries_names(
            {c.org_id for g in categories.managed(current_scope(actor)) for c in g.children if c.org_id}
        ),
    )


@bp.get("/categories")
@admin_required
def list_categories() -> str:
    orgs = authoring.admin_orgs(current_scope(current_actor()))
    return _render_categories(_subcategory_form(SubcategoryForm(formdata=None), orgs))


@bp.post("/categories")
@admin_required
def add_category() -> Response | tuple[str, int]:
    actor = current_actor()
    orgs = authoring.admin_orgs(current_scope(actor))
    form = _subcategory_form(SubcategoryForm(), orgs)
    if form.validate_on_submit():
        parent = next(c for c in categories.top_level() if c.id == form.parent_id.data)
        org = next(o for o in orgs if o.id == form.org_id.data)
        try:
            categories.add_subcategory(actor=actor, parent=parent, org=org, name=form.name.data or "")
        except LmsError as failed:
            db.session.rollback()
            _show_errors(form, failed)
        else:
            db.session.commit()
            flash(gettext("The subcategory was added."), "success")
            return redirect(url_for("authoring.list_categories"))
    return _render_categories(form), 422


@bp.post("/categories/<int:category_id>/rename")
@admin_required
def rename_category(category_id: int) -> Response | tuple[str, int]:
    actor = current_actor()
    category, org = categories.get_managed(actor, category_id)
    form = RenameForm()
    try:
        categories.rename_subcategory(actor=actor, category=category, org=org, name=form.name.data or "")
    except LmsError as failed:
        db.session.rollback()
        orgs = authoring.admin_orgs(current_scope(actor))
        blank = _subcategory_form(SubcategoryForm(formdata=None), orgs)
        return _render_categories(blank, {category_id: error_text(failed)}), 422
    db.session.commit()
    flash(gettext("The subcategory was renamed."), "success")
    return redirect(url_for("authoring.list_categories"))


@bp.post("/categories/<int:category_id>/<any(retire, restore):action>")
@admin_required
def retire_category(category_id: int, action: str) -> Response:
    actor = current_actor()
    category, org = categories.get_managed(actor, category_id)
    categories.set_retired(actor=actor, category=category, org=org, retired=action == "retire")
    db.session.commit()
    flash(
        gettext("The subcategory was retired: new courses cannot choose it; courses that have it keep it.")
        if action == "retire"
        else gettext("The subcategory is offered again."),
        "success",
    )
    return redirect(url_for("authoring.list_categories"))
