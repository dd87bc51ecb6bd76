from lms.core.errors import Conflict, InvalidState, ValidationFailed
from lms.core.i18n import N_


class NotEditable(InvalidState):
    code = "course_not_editable"
    message = N_("This course is under review or archived and cannot be edited now.")


class NothingToSubmit(InvalidState):
    code = "nothing_to_submit"
    message = N_("There is no draft to submit for review.")


class NotInReview(InvalidState):
    code = "not_in_review"
    message = N_("This course has no revision waiting for review.")


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    message = N_("Give the teacher a reason for the rejection.")


class CourseCodeTaken(Conflict):
    code = "course_code_taken"
    message = N_("This course code is already in use.")


class CommentTooLong(ValidationFailed):
    code = "comment_too_long"
    message = N_("The comment is longer than 500 characters.")


class LessonMediaNotReady(InvalidState):
    code = "lesson_media_not_ready"
    message = N_("The media of lesson “%(title)s” is not ready (still processing, failed or taken down).")


class NotDeletable(InvalidState):
    code = "course_not_deletable"
    message = N_("Only a course that was never published, and is not under review, can be deleted.")


class CourseInUse(Conflict):
    code = "course_in_use"
    message = N_("Something else (for example a test) still refers to this course; remove it first.")
