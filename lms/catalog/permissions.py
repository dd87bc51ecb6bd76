"""Who may do what with a course."""

from __future__ import annotations

from lms.accounts.models import User
from lms.accounts.permissions import admin_scope, is_teacher
from lms.catalog.models import Course, CourseStatus


def can_author(actor: User) -> bool:
    return is_teacher(actor) or admin_scope(actor).is_admin


def can_edit(actor: User, course: Course, org_path: str) -> bool:
    """The creator, a listed teacher, or an admin of the owning org."""
    if course.status == CourseStatus.ARCHIVED:
        return False
    teachers = set(course.current.teacher_ids)
    return (
        actor.id == course.created_by_id or actor.id in teachers or admin_scope(actor).covers_path(org_path)
    )


def can_review(actor: User, org_path: str) -> bool:
    return admin_scope(actor).covers_path(org_path)
