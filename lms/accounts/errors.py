from lms.core.errors import Conflict, InvalidState, PermissionDenied, TooManyRequests, Unauthorized
from lms.core.i18n import N_


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = N_("Wrong login name or password.")


class AccountDisabled(PermissionDenied):
    code = "account_disabled"
    message = N_("This account is disabled. Please contact your administrator.")


class LoginLocked(TooManyRequests):
    code = "login_locked"
    message = N_("Too many failed sign-ins. Try again after %(retry_at)s (in about %(minutes)s minutes).")


class LoginNameTaken(Conflict):
    code = "login_name_taken"
    message = N_("This login name is already in use.")


class OrgNameTaken(Conflict):
    code = "org_name_taken"
    message = N_("A unit with this name already exists under the same parent.")


class OrgCodeTaken(Conflict):
    code = "org_code_taken"
    message = N_("This unit code is already in use.")


class InvalidMove(InvalidState):
    code = "invalid_move"
    message = N_("A unit cannot be moved under itself or one of its own sub-units.")


class PasswordChangeRequired(PermissionDenied):
    code = "password_change_required"
    message = N_("Please change your initial password first.")
