"""Sign-in, sign-out and password change (web pages)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from werkzeug.wrappers import Response

from lms.accounts import services
from lms.accounts.forms import ChangePasswordForm, LoginForm
from lms.core.db import db
from lms.core.errors import ValidationFailed
from lms.core.web import apply_field_errors, client_ip, current_actor

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("portal.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    error: str | None = None
    status = 200
    if form.validate_on_submit():
        settings = current_app.extensions["lms.settings"]
        outcome = services.authenticate(
            login_name=form.username.data or "",
            password=form.password.data or "",
            client_ip=client_ip(),
            policy=services.LoginPolicy(
                settings.login_max_failures,
                timedelta(minutes=settings.login_lockout_minutes),
                settings.login_ip_max_failures,
            ),
        )
        db.session.commit()
        if outcome.user is not None:
            login_user(outcome.user, remember=bool(form.remember.data))
            return redirect(_safe_next(request.args.get("next")))
        assert outcome.error is not None
        error = _(outcome.error.message_id, **outcome.error.params)  # type: ignore[attr-defined]
        status = outcome.error.http_status  # type: ignore[attr-defined]
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> str | Response:
    form = ChangePasswordForm()
    user = current_actor()
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            form.confirm.errors = [_("The two new passwords differ.")]
        else:
            try:
                services.change_password(
                    user=user,
                    current_password=form.current_password.data or "",
                    new_password=form.new_password.data or "",
                )
            except ValidationFailed as failed:
                apply_field_errors(form, failed)
            else:
                db.session.commit()
                login_user(user)  # the session id carries the new session version
                flash(_("Your password has been changed."), "success")
                return redirect(url_for("portal.home"))
    return render_template("auth/change_password.html", form=form, forced=user.must_change_password)
