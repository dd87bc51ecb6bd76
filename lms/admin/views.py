from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from lms.accounts import importing, queries, services
from lms.accounts.forms import ActionForm, ImportForm, OrgForm, UserForm
from lms.accounts.models import (
    CADRE_CATEGORY_LABELS,
    ORG_KIND_LABELS,
    RANK_LABELS,
    ROLE_LABELS,
    Role,
)
from lms.accounts.permissions import AdminScope, roles_of
from lms.accounts.web import current_scope
from lms.audit import queries as audit_queries
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.core.web import apply_field_errors, current_actor, page_args

bp = Blueprint("admin", __name__, url_prefix="/admin")
ORG_CHOICE_LIMIT = 2000


def admin_required(view: Any) -> Any:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        require(current_scope(current_actor()).is_admin, "admin")
        return view(*args, **kwargs)

    return wrapped


def _scope() -> AdminScope:
    return current_scope(current_actor())


def _org_choices(scope: AdminScope) -> list[SelectChoice]:
    orgs = queries.list_orgs(scope, per_page=ORG_CHOICE_LIMIT).items
    top = min((o.depth for o in orgs), default=0)
    return [SelectChoice(o.id, "　" * (o.depth - top) + o.name) for o in orgs]


@bp.get("/")
@admin_required
def index() -> Response:
    return redirect(url_for("admin.list_users"))


# --- units --------------------------------------------------------------------------------------


@bp.get("/orgs")
@admin_required
def list_orgs() -> str:
    scope = _scope()
    args = page_args(default_per_page=50)
    page = queries.list_orgs(scope, q=request.args.get("q", "")[:100], page=args.page, per_page=args.per_page)
    top = min((o.depth for o in page.items), default=0)
    return render_template(
        "admin/orgs.html", page=page, top_depth=top, kind_labels=ORG_KIND_LABELS, q=request.args.get("q", "")
    )


@bp.route("/orgs/new", methods=["GET", "POST"])
@admin_required
def create_org() -> str | Response:
    scope = _scope()
    form = OrgForm()
    form.parent_id.choices = _org_choices(scope)
    if request.method == "GET" and request.args.get("parent_id", "").isdigit():
        form.parent_id.data = int(request.args["parent_id"])
    if form.validate_on_submit():
        try:
            org = services.create_org(
                actor=current_actor(),
                parent=queries.get_org(scope, form.parent_id.data),
                name=form.name.data,
                kind=form.kind.data,
                code=form.code.data,
            )
        except ValidationFailed as failed:
            apply_field_errors(form, failed)
        else:
            db.session.commit()
            flash(_("Unit %(name)s created.", name=org.name), "success")
            return redirect(url_for("admin.list_orgs"))
    return render_template("admin/org_form.html", form=form, org=None)


@bp.route("/orgs/<int:org_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_org(org_id: int) -> str | Response:
    scope = _scope()
    org = queries.get_org(scope, org_id)
    form = OrgForm(obj=org)
    # A root unit has no parent to choose; others may move anywhere in the admin's scope.
    form.parent_id.choices = [SelectChoice(0, "—"), *(_org_choices(scope) if org.parent_id else [])]
    if request.method == "GET":
        form.parent_id.data = org.parent_id or 0
    if form.validate_on_submit():
        actor = current_actor()
        try:
            if org.parent_id and form.parent_id.data and form.parent_id.data != org.parent_id:
                org = services.move_org(
                    actor=actor, org=org, new_parent=queries.get_org(scope, form.parent_id.data)
                )
            services.update_org(actor=actor, org=org, name=form.name.data, code=form.code.data)
        except ValidationFailed as failed:
            apply_field_errors(form, failed)
        else:
            db.session.commit()
            flash(_("Unit %(name)s saved.", name=org.name), "success")
            return redirect(url_for("admin.list_orgs"))
    return render_template("admin/org_form.html", form=form, org=org)


# --- users --------------------------------------------------------------------------------------


@bp.get("/users")
@admin_required
def list_users() -> str:
    scope = _scope()
    args = page_args()
    org_arg = request.args.get("org_id", "")
    under = queries.get_org(scope, int(org_arg)) if org_arg.isdigit() else None
    q = request.args.get("q", "")[:100]
    page = queries.list_users(scope, under=under, q=q, page=args.page, per_page=args.per_page)
    return render_template(
        "admin/users.html",
        page=page,
        q=q,
        under=under,
        orgs=_org_choices(scope),
        rank_labels=RANK_LABELS,
        category_labels=CADRE_CATEGORY_LABELS,
    )


def _form_user_data(form: UserForm) -> services.UserData:
    return services.clean_user_data(
        login_name=form.login_name.data,
        display_name=form.display_name.data,
        rank=form.rank.data,
        cadre_category=form.cadre_category.data,
        phone=form.phone.data,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def create_user() -> str | Response:
    scope = _scope()
    form = UserForm()
    form.org_id.choices = _org_choices(scope)
    if form.validate_on_submit():
        try:
            user, initial = services.create_user(
                actor=current_actor(),
                org=queries.get_org(scope, form.org_id.data),
                data=_form_user_data(form),
            )
        except ValidationFailed as failed:
            apply_field_errors(form, failed)
        else:
            db.session.commit()
            return render_template("admin/issued.html", issued=[(user, initial)])
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int) -> str | Response:
    scope = _scope()
    user = queries.get_user(scope, user_id)
    form = UserForm(obj=user)
    form.org_id.choices = _org_choices(scope)
    if form.validate_on_submit():
        try:
            services.update_user(
                actor=current_actor(),
                user=user,
                data=_form_user_data(form),
                org=queries.get_org(scope, form.org_id.data),
                is_active=form.is_active.data,
            )
        except ValidationFailed as failed:
            apply_field_errors(form, failed)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    return render_template(
        "admin/user_form.html",
        form=form,
        user=user,
        grants=roles_of(user),
        role_labels=ROLE_LABELS,
        action_form=ActionForm(),
        orgs=_org_choices(scope),
        can_grant_system=scope.everything,
    )


@bp.post("/users/<int:user_id>/reset-password")
@admin_required
def reset_password(user_id: int) -> str:
    user = queries.get_user(_scope(), user_id)
    initial = services.reset_password(actor=current_actor(), user=user)
    db.session.commit()
    return render_template("admin/issued.html", issued=[(user, initial)])


@bp.post("/users/<int:user_id>/roles")
@admin_required
def grant_role(user_id: int) -> Response:
    scope = _scope()
    user = queries.get_user(scope, user_id)
    try:
        role = Role(request.form.get("role", ""))
    except ValueError:
        raise ValidationFailed(fields={"role": N_("Unknown role.")}) from None
    org_arg = request.form.get("org_id", "")
    org = queries.get_org(scope, int(org_arg)) if org_arg.isdigit() else None
    services.grant_role(actor=current_actor(), user=user, role=role, org=org)
    db.session.commit()
    flash(_("Role granted."), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/roles/<int:grant_id>/revoke")
@admin_required
def revoke_role(grant_id: int) -> Response:
    grant = queries.find_grant(grant_id)
    if grant is None:
        raise NotFound()
    user = queries.get_user(_scope(), grant.user_id)
    services.revoke_role(actor=current_actor(), grant=grant)
    db.session.commit()
    flash(_("Role revoked."), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


# --- bulk import --------------------------------------------------------------------------------


@bp.route("/users/import", methods=["GET", "POST"])
@admin_required
def import_users() -> str | tuple[str, int]:
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result = importing.import_users(
                actor=current_actor(), filename=upload.filename or "", data=upload.read()
            )
        except importing.ImportRejected as rejected:
            db.session.rollback()
            return render_template("admin/import.html", form=form, errors=rejected.errors), 422
        db.session.commit()
        return render_template("admin/import_done.html", result=result)
    return render_template("admin/import.html", form=form, errors=None)


@bp.get("/users/import/template.<ext>")
@admin_required
def import_template(ext: str) -> Response:
    if ext == "xlsx":
        body, mimetype = (
            importing.template_xlsx(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    elif ext == "csv":
        body, mimetype = importing.template_csv(), "text/csv; charset=utf-8"
    else:
        raise NotFound()
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename=users-template.{ext}"}
    )


# --- audit log ----------------------------------------------------------------------------------


@bp.get("/audit")
@admin_required
def audit_log() -> str:
    args = page_args(default_per_page=50)
    page = audit_queries.list_entries(scope_paths=_scope().sql_paths, page=args.page, per_page=args.per_page)
    return render_template("admin/audit.html", page=page)
