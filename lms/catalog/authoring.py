"""Reads for the authoring and review pages: the courses an author may edit, the choices the editor
offers (units, teachers, media), and what a revision under review changes."""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import aliased

from lms.accounts.models import Organization, Role, RoleGrant, User
from lms.accounts.permissions import AdminScope
from lms.catalog.models import (
    KIND_LABELS,
    USE_LABELS,
    Category,
    Course,
    CourseMaterial,
    CourseRevision,
    CourseStatus,
    RevisionStatus,
)
from lms.catalog.queries import ancestor_paths
from lms.core.db import db
from lms.core.i18n import N_
from lms.core.pagination import Page
from lms.media.models import AssetKind, AssetStatus, MediaAsset

CHOICE_LIMIT = 300
LEVELS_BELOW = 2  # units offered for visibility: the owning unit and two levels under it

# The states an author filters by. A published course may also have a revision in the works, so it
# can be in two lists (published, and draft / in review / sent back).
STATES = ("draft", "in_review", "rejected", "published", "archived")

Working = aliased(CourseRevision)
Published = aliased(CourseRevision)


def _teacher_condition(user_id: int):  # type: ignore[no-untyped-def]
    """``teacher_ids`` is a JSON list written by json.dumps (``[3, 12]``) on every database we run on;
    a listed teacher is matched in SQL by the text of the list (and checked again in Python)."""
    conditions = []
    for revision in (Working, Published):
        text = cast(revision.teacher_ids, String)
        conditions += [
            text == f"[{user_id}]",
            text.like(f"[{user_id}, %"),
            text.like(f"%, {user_id}]"),
            text.like(f"%, {user_id}, %"),
        ]
    return or_(*conditions)


def list_my_courses(
    actor: User, scope: AdminScope, *, state: str = "", q: str = "", page: int = 1, per_page: int = 20
) -> Page:
    """Courses the actor may open in the editor (created, listed as teacher, or administered), most
    recently changed first."""
    stmt = (
        select(Course)
        .outerjoin(Working, Working.id == Course.working_revision_id)
        .outerjoin(Published, Published.id == Course.published_revision_id)
        .join(Organization, Organization.id == Course.org_id)
    )
    if not scope.everything:
        mine = [Course.created_by_id == actor.id, _teacher_condition(actor.id)]
        mine += [Organization.path.startswith(p, autoescape=True) for p in scope.paths]
        stmt = stmt.where(or_(*mine))
    if state == "draft":
        stmt = stmt.where(Working.status == RevisionStatus.DRAFT, Course.status != CourseStatus.ARCHIVED)
    elif state == "in_review":
        stmt = stmt.where(Working.status == RevisionStatus.SUBMITTED, Course.status != CourseStatus.ARCHIVED)
    elif state == "rejected":
        stmt = stmt.where(Working.status == RevisionStatus.REJECTED, Course.status != CourseStatus.ARCHIVED)
    elif state in ("published", "archived"):
        stmt = stmt.where(Course.status == state)
    for word in q.split()[:5]:
        stmt = stmt.where(
            or_(
                Working.title.contains(word[:50], autoescape=True),
                Published.title.contains(word[:50], autoescape=True),
            )
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(
        stmt.order_by(Course.updated_at.desc(), Course.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(list(items), total, page, per_page)


@dataclass(frozen=True)
class CourseState:
    """What an author sees of a course: its state and, for a published one, its revision in the works."""

    key: str  # one of STATES
    revision: str = ""  # "" | draft | in_review | rejected: the revision in the works of a published course
    reason: str = ""  # the reviewer's reason when sent back


def state_of(course: Course) -> CourseState:
    working = course.working_revision
    reason = working.review_comment if working and working.status == RevisionStatus.REJECTED else ""
    in_works = {
        RevisionStatus.DRAFT: "draft",
        RevisionStatus.SUBMITTED: "in_review",
        RevisionStatus.REJECTED: "rejected",
    }.get(working.status if working else "", "")  # type: ignore[call-overload]
    if course.status == CourseStatus.ARCHIVED:
        return CourseState("archived")
    if course.status == CourseStatus.PUBLISHED:
        return CourseState("published", in_works, reason)
    return CourseState(in_works or "draft", "", reason)


# --- choices the editor offers ------------------------------------------------------------------


def creation_orgs(actor: User, scope: AdminScope) -> list[Organization]:
    """Units a new course may belong to: the author's own unit and those above it, and the units the
    actor administers with two levels under each."""
    paths = ancestor_paths(actor.org.path)
    conditions = [Organization.path.in_(paths)]
    if scope.everything:
        conditions.append(Organization.depth <= LEVELS_BELOW)
    for root in scope.paths:
        depth = root.count("/") - 2
        conditions.append(
            and_(
                Organization.path.startswith(root, autoescape=True),
                Organization.depth <= depth + LEVELS_BELOW,
            )
        )
    return list(
        db.session.scalars(
            select(Organization).where(or_(*conditions)).order_by(Organization.path).limit(CHOICE_LIMIT)
        )
    )


def visibility_orgs(org: Organization, selected: list[str]) -> list[Organization]:
    """Units a course of ``org`` may be shown to: ``org`` and two levels under it (and any deeper unit
    already chosen)."""
    near = and_(
        Organization.path.startswith(org.path, autoescape=True),
        Organization.depth <= org.depth + LEVELS_BELOW,
    )
    chosen = Organization.path.in_([p for p in selected if p.startswith(org.path)])
    return list(
        db.session.scalars(
            select(Organization).where(or_(near, chosen)).order_by(Organization.path).limit(CHOICE_LIMIT)
        )
    )


def org_names(paths: list[str]) -> dict[str, str]:
    if not paths:
        return {}
    return dict(
        db.session.execute(
            select(Organization.path, Organization.name).where(Organization.path.in_(paths))
        ).all()
    )


def teacher_choices(keep: list[int]) -> list[User]:
    """Active teachers (and whoever is already listed), by name."""
    teachers = select(RoleGrant.user_id).where(RoleGrant.role == Role.TEACHER)
    return list(
        db.session.scalars(
            select(User)
            .where(or_(and_(User.id.in_(teachers), User.is_active), User.id.in_(keep or [0])))
            .order_by(User.display_name, User.id)
            .limit(CHOICE_LIMIT)
        )
    )


def user_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


def lesson_assets(actor: User, keep: list[int]) -> list[MediaAsset]:
    """The actor's ready recordings, newest first (and the media already in the course)."""
    own = and_(
        MediaAsset.owner_id == actor.id,
        MediaAsset.kind != AssetKind.IMAGE,
        MediaAsset.status == AssetStatus.READY,
    )
    return list(
        db.session.scalars(
            select(MediaAsset)
            .where(or_(own, MediaAsset.id.in_(keep or [0])))
            .order_by(MediaAsset.id.desc())
            .limit(CHOICE_LIMIT)
        )
    )


def cover_assets(actor: User, keep: int | None) -> list[MediaAsset]:
    """The actor's processed images (and the course's current cover)."""
    own = and_(
        MediaAsset.owner_id == actor.id,
        MediaAsset.kind == AssetKind.IMAGE,
        MediaAsset.status == AssetStatus.READY,
    )
    return list(
        db.session.scalars(
            select(MediaAsset)
            .where(or_(own, MediaAsset.id == (keep or 0)))
            .order_by(MediaAsset.id.desc())
            .limit(CHOICE_LIMIT)
        )
    )


def assets_by_id(ids: list[int]) -> dict[int, MediaAsset]:
    if not ids:
        return {}
    return {a.id: a for a in db.session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids)))}


def materials_by_id(ids: list[int]) -> dict[int, CourseMaterial]:
    if not ids:
        return {}
    return {m.id: m for m in db.session.scalars(select(CourseMaterial).where(CourseMaterial.id.in_(ids)))}


def category_names() -> dict[int, str]:
    """Names with their parent's (``党性教育 · 廉政教育``)."""
    rows = db.session.execute(select(Category.id, Category.name, Category.parent_id)).all()
    names = {i: n for i, n, _ in rows}
    return {i: f"{names.get(p, '')} · {n}" if p else n for i, n, p in rows}


# --- what a revision changes --------------------------------------------------------------------


@dataclass
class FieldChange:
    label: str  # English message id (translated in the template)
    before: str
    after: str
    translate: bool = False  # the values are message ids too

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class LessonChange:
    title: str
    change: str  # added | removed | moved | changed (title or content) | same
    before_title: str = ""
    kind: str = "media"  # media | material | none


@dataclass
class RevisionDiff:
    fields: list[FieldChange] = field(default_factory=list)
    summary: list[tuple[str, str]] = field(default_factory=list)  # (op, text): op in "", "ins", "del"
    summary_changed: bool = False
    lessons: list[LessonChange] = field(default_factory=list)
    compared: bool = True  # False for a course never published: everything is new


def plain_text(summary_html: str) -> str:
    text = re.sub(r"<(br|/p|/li|/h3|/h4|/blockquote)\s*/?>", "\n", summary_html, flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A character diff (Chinese has no spaces to split words on)."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[tuple[str, str]] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            parts.append(("", before[a0:a1]))
            continue
        if op in ("delete", "replace"):
            parts.append(("del", before[a0:a1]))
        if op in ("insert", "replace"):
            parts.append(("ins", after[b0:b1]))
    return parts


TRANSLATED = ("Credit rule", "No skipping ahead")


def _describe(revision: CourseRevision | None) -> dict[str, str]:
    """The revision's fields as the reviewer reads them, keyed by English message ids."""
    if revision is None:
        return {}
    categories = category_names()
    teachers = user_names(revision.teacher_ids)
    visible = org_names(revision.visibility_paths)
    cover = assets_by_id([revision.cover_asset_id]) if revision.cover_asset_id else {}
    per_minute = revision.credit_rule == "per_minute"
    return {
        N_("Title"): revision.title,
        N_("Category"): categories.get(revision.category_id or 0, "—"),
        N_("Tags"): "、".join(revision.tags) or "—",
        N_("Type"): KIND_LABELS.get(revision.kind, str(revision.kind)),  # type: ignore[call-overload]
        N_("Learning hours"): f"{revision.hours:.2f}".rstrip("0").rstrip("."),
        N_("Credit rule"): N_("Per verified minute") if per_minute else N_("Fixed hours on completion"),
        N_("Minutes per learning hour"): str(revision.minutes_per_hour) if per_minute else "—",
        N_("Counts as"): USE_LABELS.get(revision.use, str(revision.use)),  # type: ignore[call-overload]
        N_("No skipping ahead"): N_("Yes") if revision.no_seek_ahead else N_("No"),
        N_("Cover"): cover[revision.cover_asset_id].title if revision.cover_asset_id in cover else "—",
        N_("Teachers"): "、".join(teachers.get(i, str(i)) for i in revision.teacher_ids) or "—",
        N_("Lecturers"): "、".join(revision.lecturers) or "—",
        N_("Visible to"): "、".join(visible.get(p, p) for p in sorted(revision.visibility_paths)) or "—",
    }


def revision_diff(published: CourseRevision | None, working: CourseRevision) -> RevisionDiff:
    """What ``working`` changes compared with ``published`` (everything is new when nothing is)."""
    before, after = _describe(published), _describe(working)
    diff = RevisionDiff(
        fields=[
            FieldChange(label, before.get(label, ""), value, label in TRANSLATED)
            for label, value in after.items()
        ],
        compared=published is not None,
    )
    old_text = plain_text(published.summary_html) if published else ""
    new_text = plain_text(working.summary_html)
    diff.summary_changed = old_text != new_text
    diff.summary = _text_diff(old_text, new_text)
    old_list = published.lessons if published else []
    old_lessons = {lesson["key"]: lesson for lesson in old_list}
    kept = [lesson["key"] for lesson in working.lessons if lesson["key"] in old_lessons]
    old_order = [lesson["key"] for lesson in old_list if lesson["key"] in set(kept)]
    # Lessons outside the longest common order are the ones that moved.
    blocks = difflib.SequenceMatcher(a=old_order, b=kept, autojunk=False).get_matching_blocks()
    in_place = {key for block in blocks for key in kept[block.b : block.b + block.size]}
    new_keys = set()
    for lesson in working.lessons:
        key = lesson["key"]
        new_keys.add(key)
        kind = _lesson_kind(lesson)
        if key not in old_lessons:
            diff.lessons.append(LessonChange(lesson["title"], "added", kind=kind))
            continue
        old = old_lessons[key]
        if (
            old["title"] != lesson["title"]
            or old.get("material_id") != lesson.get("material_id")
            or old.get("media_asset_id") != lesson.get("media_asset_id")
        ):
            diff.lessons.append(
                LessonChange(lesson["title"], "changed", before_title=old["title"], kind=kind)
            )
        elif key not in in_place:
            diff.lessons.append(LessonChange(lesson["title"], "moved", kind=kind))
        else:
            diff.lessons.append(LessonChange(lesson["title"], "same", kind=kind))
    for key, old in old_lessons.items():
        if key not in new_keys:
            diff.lessons.append(LessonChange(old["title"], "removed", kind=_lesson_kind(old)))
    return diff


def _lesson_kind(lesson: dict[str, Any]) -> str:
    if lesson.get("media_asset_id"):
        return "media"
    return "material" if lesson.get("material_id") else "none"


def admin_orgs(scope: AdminScope) -> list[Organization]:
    """Units an admin may file a subcategory under: the ones they administer, two levels down."""
    if scope.everything:
        condition = Organization.depth <= LEVELS_BELOW
    elif scope.paths:
        condition = or_(
            *(
                and_(
                    Organization.path.startswith(root, autoescape=True),
                    Organization.depth <= root.count("/") - 2 + LEVELS_BELOW,
                )
                for root in scope.paths
            )
        )
    else:
        return []
    return list(
        db.session.scalars(
            select(Organization).where(condition).order_by(Organization.path).limit(CHOICE_LIMIT)
        )
    )
