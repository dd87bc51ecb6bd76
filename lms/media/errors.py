from lms.core.errors import InvalidState, NotFound, ServiceUnavailable, ValidationFailed
from lms.core.i18n import N_


class FileTooLarge(ValidationFailed):
    code = "file_too_large"
    message = N_("The file is %(size)s; the limit for one file is %(limit)s (%(excess)s too large).")


class QuotaExceeded(ValidationFailed):
    code = "quota_exceeded"
    message = N_(
        "Your media quota is %(quota)s and %(used)s is in use; this file (%(size)s) exceeds it by "
        "%(excess)s. Ask an administrator for more space."
    )


class UnsupportedFile(ValidationFailed):
    code = "unsupported_file"
    message = N_("This file type is not accepted here: %(accepted)s.")


class UploadIncomplete(ValidationFailed):
    code = "upload_incomplete"
    message = N_("The upload is not complete: %(missing)s part(s) are missing or damaged. Resume the upload.")


class UploadSizeMismatch(ValidationFailed):
    code = "upload_size_mismatch"
    message = N_("The uploaded file is %(actual)s bytes but %(declared)s bytes were announced.")


class UploadClosed(InvalidState):
    code = "upload_closed"
    message = N_("This upload has already been completed or cancelled.")


class UploadNotFoundError(NotFound):
    code = "upload_not_found"
    message = N_("This upload no longer exists. Start the upload again.")


class AssetNotReady(InvalidState):
    code = "asset_not_ready"
    message = N_("This media is not ready to play.")


class NotRetryable(InvalidState):
    code = "not_retryable"
    message = N_("Only media whose processing failed can be processed again.")


class StorageDown(ServiceUnavailable):
    code = "storage_unavailable"
    message = N_("The media storage is unavailable. Please try again in a moment.")
