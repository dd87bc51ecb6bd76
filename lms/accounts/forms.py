from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from lms.accounts.models import CADRE_CATEGORY_LABELS, ORG_KIND_LABELS, RANK_LABELS


class LoginForm(FlaskForm):
    username = StringField(_l("Login name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    remember = BooleanField(_l("Keep me signed in"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), Length(max=128)])


def _choices(labels: dict) -> list[SelectChoice]:  # type: ignore[type-arg]
    return [SelectChoice("", "—")] + [SelectChoice(str(k), v) for k, v in labels.items()]


class UserForm(FlaskForm):
    login_name = StringField(_l("Login name"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    org_id = SelectField(_l("Unit"), coerce=int)
    rank = SelectField(_l("Rank"), choices=_choices(RANK_LABELS))
    cadre_category = SelectField(_l("Cadre category"), choices=_choices(CADRE_CATEGORY_LABELS))
    phone = StringField(_l("Phone"), validators=[Length(max=20)])
    is_active = BooleanField(_l("Active"), default=True)


class OrgForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(str(k), v) for k, v in ORG_KIND_LABELS.items()])
    code = StringField(_l("Code"), validators=[Length(max=32)])
    parent_id = SelectField(_l("Parent unit"), coerce=int)


class ImportForm(FlaskForm):
    file = FileField(_l("Template file (.xlsx or .csv)"), validators=[FileRequired()])


class ActionForm(FlaskForm):
    """A form with only the CSRF token, for POST buttons."""
