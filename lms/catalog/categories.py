"""Content categories: the four fixed top-level ones (domain.md) and the subcategories admins add.

A subcategory belongs to the org whose admin added it: it is offered to courses of that org's subtree and
managed (renamed, retired, restored) by admins covering that org. Names are unique under their parent
(reports and the importer find categories by name). Every change is audited; a rename refreshes the
search documents of the published courses that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import AdminScope, admin_scope
from lms.audit import services as audit
from lms.catalog.models import Category, Course, CourseRevision, CourseStatus
from lms.catalog.queries import ancestor_paths
from lms.catalog.signals import course_changed
from lms.core.db import db
from lms.core.errors import Conflict, NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require

MAX_NAME = 60


class CategoryNameTaken(Conflict):
    code = "category_name_taken"
    message = N_("There is already a subcategory of this name under this category.")


@dataclass
class CategoryGroup:
    """A top-level category and the subcategories one may see under it."""

    category: Category
    children: list[Category] = field(default_factory=list)


def top_level() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category).where(Category.parent_id.is_(None)).order_by(Category.position, Category.id)
        )
    )


def _usable_by(org_path: str):  # type: ignore[no-untyped-def]
    """Subcategories an org's courses may use: those of the org itself and of the orgs above it (and
    any that belong to no org)."""
    above = select(Organization.id).where(Organization.path.in_(ancestor_paths(org_path)))
    return Category.org_id.is_(None) | Category.org_id.in_(above)


def choices_for(org: Organization, keep: int | None = None) -> list[CategoryGroup]:
    """The categories a course of ``org`` may take (``keep``: the one it has, even if since retired)."""
    groups = {c.id: CategoryGroup(c) for c in top_level()}
    usable = (_usable_by(org.path) & Category.is_retired.is_(False)) | (Category.id == (keep or 0))
    rows = db.session.scalars(
        select(Category)
        .where(Category.parent_id.in_(list(groups)), usable)
        .order_by(Category.position, Category.name)
    )
    for row in rows:
        groups[row.parent_id].children.append(row)  # type: ignore[index]
    return list(groups.values())


def managed(scope: AdminScope) -> list[CategoryGroup]:
    """For the administration page: every subcategory of the orgs the admin covers, retired too."""
    groups = {c.id: CategoryGroup(c) for c in top_level()}
    stmt = (
        select(Category)
        .join(Organization, Organization.id == Category.org_id)
        .where(Category.parent_id.in_(list(groups)))
    )
    if scope.sql_paths is not None:
        stmt = stmt.where(
            or_(*(Organization.path.startswith(p, autoescape=True) for p in scope.sql_paths))
            if scope.sql_paths
            else False
        )
    for row in db.session.scalars(stmt.order_by(Category.position, Category.name)):
        groups[row.parent_id].children.append(row)  # type: ignore[index]
    return list(groups.values())


def get_managed(actor: User, category_id: int) -> tuple[Category, Organization]:
    """A subcategory the actor may manage, with its org; anything else (top-level ones too) is NotFound."""
    category = db.session.get(Category, category_id) if 0 < category_id < 2**31 else None
    org = db.session.get(Organization, category.org_id) if category and category.org_id else None
    if category is None or org is None or not admin_scope(actor).covers(org):
        raise NotFound()
    return category, org


def _clean_name(raw: str) -> str:
    name = " ".join(str(raw or "").split())
    if not name:
        raise ValidationFailed(fields={"name": N_("Give the subcategory a name.")})
    if len(name) > MAX_NAME:
        raise ValidationFailed(fields={"name": N_("The name is longer than 60 characters.")})
    return name


def _check_unique(parent_id: int, name: str, except_id: int | None = None) -> None:
    stmt = select(Category.id).where(Category.parent_id == parent_id, Category.name == name)
    if except_id is not None:
        stmt = stmt.where(Category.id != except_id)
    if db.session.scalar(stmt) is not None:
        raise CategoryNameTaken(fields={"name": CategoryNameTaken.message})


def add_subcategory(*, actor: User, parent: Category, org: Organization, name: str) -> Category:
    require(admin_scope(actor).covers(org), "manage_categories")
    if parent.parent_id is not None:
        raise ValidationFailed(fields={"parent_id": N_("Not a valid choice.")})
    name = _clean_name(name)
    _check_unique(parent.id, name)
    position = len(db.session.scalars(select(Category.id).where(Category.parent_id == parent.id)).all()) + 1
    category = Category(name=name, parent_id=parent.id, org_id=org.id, position=position)
    db.session.add(category)
    db.session.flush()
    _audit(actor, "category.create", category, org, after={"name": name, "parent": parent.name})
    return category


def rename_subcategory(*, actor: User, category: Category, org: Organization, name: str) -> Category:
    require(admin_scope(actor).covers(org), "manage_categories")
    name = _clean_name(name)
    if name == category.name:
        return category
    assert category.parent_id is not None
    _check_unique(category.parent_id, name, except_id=category.id)
    before = category.name
    category.name = name
    db.session.flush()
    _audit(actor, "category.rename", category, org, before={"name": before}, after={"name": name})
    _refresh_courses(category)
    return category


def set_retired(*, actor: User, category: Category, org: Organization, retired: bool) -> Category:
    """Retire a subcategory (offered to no new course; courses that have it keep it) or restore it."""
    require(admin_scope(actor).covers(org), "manage_categories")
    if category.is_retired != retired:
        category.is_retired = retired
        db.session.flush()
        _audit(
            actor,
            "category.retire" if retired else "category.restore",
            category,
            org,
            before={"is_retired": not retired},
            after={"is_retired": retired},
        )
    return category


def _refresh_courses(category: Category) -> None:
    """Search documents carry the category's name: queue the published courses that use it."""
    courses = db.session.scalars(
        select(Course)
        .join(CourseRevision, CourseRevision.id == Course.published_revision_id)
        .where(Course.status == CourseStatus.PUBLISHED, CourseRevision.category_id == category.id)
    )
    for course in courses:
        course.version += 1
        db.session.flush()
        course_changed.send(course)


def _audit(
    actor: User,
    action: str,
    category: Category,
    org: Organization,
    *,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    audit.record(
        actor=actor,
        action=action,
        target_type="category",
        target_id=category.id,
        target_label=category.name,
        org_path=org.path,
        before=before,
        after=after,
    )
