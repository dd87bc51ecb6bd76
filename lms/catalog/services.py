"""Course authoring and review. Services take the acting user explicitly and never commit."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import Organization, Role, RoleGrant, User
from lms.accounts.permissions import admin_scope
from lms.audit import services as audit
from lms.catalog import permissions
from lms.catalog.errors import (
    CommentTooLong,
    CourseCodeTaken,
    CourseInUse,
    LessonMediaNotReady,
    NotDeletable,
    NotEditable,
    NothingToSubmit,
    NotInReview,
    ReasonRequired,
)
from lms.catalog.models import (
    Category,
    Course,
    CourseMaterial,
    CourseRating,
    CourseRevision,
    CourseStatus,
    CourseVisibility,
    Lesson,
    RevisionStatus,
)
from lms.catalog.signals import course_changed
from lms.catalog.validation import CourseData
from lms.core.db import db, utcnow
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require
from lms.media.models import AssetKind, AssetStatus
from lms.media.queries import usable_assets

CONTENT_FIELDS = (
    "title",
    "summary_html",
    "category_id",
    "tags",
    "kind",
    "hours",
    "credit_rule",
    "minutes_per_hour",
    "use",
    "no_seek_ahead",
    "cover_asset_id",
    "teacher_ids",
    "lecturers",
    "lessons",
)


def _org(course: Course) -> Organization:
    org = db.session.get(Organization, course.org_id)
    assert org is not None
    return org


def _apply(revision: CourseRevision, data: CourseData) -> None:
    for name in CONTENT_FIELDS:
        setattr(revision, name, getattr(data, name))


def _snapshot(revision: CourseRevision) -> dict[str, Any]:
    return {
        name: str(getattr(revision, name)) if name == "hours" else getattr(revision, name)
        for name in CONTENT_FIELDS
        if name not in ("summary_html", "lessons")
    } | {"lessons": len(revision.lessons), "visibility_paths": revision.visibility_paths}


def _audit(actor: User, action: str, course: Course, org: Organization, title: str, **changes: Any) -> None:
    audit.record(
        actor=actor,
        action=action,
        target_type="course",
        target_id=course.id,
        target_label=title,
        org_path=org.path,
        **changes,
    )


def _check_media(actor: User, data: CourseData, allowed: Collection[int] = ()) -> None:
    """Lessons may only use assets the author owns or administers (or ones already in the course)."""
    ids: set[int] = set()
    for lesson in data.lessons:
        value = lesson.get("media_asset_id")
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationFailed(fields={"lessons": N_("A lesson's media is not one you may use.")})
        ids.add(value)
    new = ids - set(allowed)
    cover = data.cover_asset_id if data.cover_asset_id not in allowed else None
    usable = usable_assets(actor, sorted(new | ({cover} if cover else set())))
    for asset_id in new:
        asset = usable.get(asset_id)
        if asset is None or asset.kind == AssetKind.IMAGE or asset.status == AssetStatus.TAKEN_DOWN:
            raise ValidationFailed(fields={"lessons": N_("A lesson's media is not one you may use.")})
    if cover is not None:
        image = usable.get(cover)
        if image is None or image.kind != AssetKind.IMAGE or image.status != AssetStatus.READY:
            raise ValidationFailed(
                fields={"cover_asset_id": N_("The cover must be a processed image you uploaded.")}
            )


def _check_materials(actor: User, data: CourseData, allowed: Collection[int] = ()) -> None:
    """Reading material may only be the author's own or administered (or already in the course)."""
    ids: set[int] = set()
    for lesson in data.lessons:
        value = lesson.get("material_id")
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or lesson.get("media_asset_id") is not None:
            raise ValidationFailed(fields={"lessons": N_("A lesson's material is not one you may use.")})
        ids.add(value)
    new = sorted(i for i in ids - set(allowed) if 0 < i < 2**31)
    if len(new) != len(ids - set(allowed)):
        raise ValidationFailed(fields={"lessons": N_("A lesson's material is not one you may use.")})
    if not new:
        return
    scope = admin_scope(actor)
    rows = db.session.execute(
        select(CourseMaterial.id, CourseMaterial.owner_id, Organization.path)
        .join(Organization, Organization.id == CourseMaterial.org_id)
        .where(CourseMaterial.id.in_(new))
    ).all()
    if {i for i, owner, path in rows if owner == actor.id or scope.covers_path(path)} != set(new):
        raise ValidationFailed(fields={"lessons": N_("A lesson's material is not one you may use.")})


def _material_ids(revision: CourseRevision | None) -> set[int]:
    if revision is None:
        return set()
    return {int(i) for i in (lesson.get("material_id") for lesson in revision.lessons) if isinstance(i, int)}


def _only_here(material: CourseMaterial, course_id: int) -> bool:
    """Is the material used by no other course? (Lessons are JSON written by json.dumps, so another
    revision's use shows in its text as ``"material_id": <id>,`` or ``…}``.)"""
    text = cast(CourseRevision.lessons, String)
    mention = f'"material_id": {material.id}'
    other = db.session.scalar(
        select(CourseRevision.id).where(
            CourseRevision.course_id != course_id,
            or_(text.like(f"%{mention},%"), text.like(f"%{mention}}}%")),
        )
    )
    return (
        other is None
        and db.session.scalar(select(Lesson.id).where(Lesson.material_id == material.id)) is None
    )


def _check_visibility(org: Organization, paths: list[str] | None) -> list[str] | None:
    """Visibility is one or more existing org subtrees inside the owning org's subtree: the owning org's
    admins, who approve the course, answer for everything it is shown to."""
    if paths is None:
        return None
    wanted = sorted(set(paths))
    if not wanted:
        raise ValidationFailed(fields={"visibility_paths": N_("Choose at least one unit that may see it.")})
    outside = [p for p in wanted if not isinstance(p, str) or not p.startswith(org.path)]
    found = set(db.session.scalars(select(Organization.path).where(Organization.path.in_(wanted))))
    if outside or found != set(wanted):
        raise ValidationFailed(
            fields={"visibility_paths": N_("A course can only be shown to units within its own unit.")}
        )
    return wanted


def _check_teachers(actor: User, data: CourseData, allowed: Collection[int] = ()) -> None:
    """A listed teacher may edit the course: new names must be active accounts with the teacher role
    (the author may always list themselves; teachers already on the course stay)."""
    new = set(data.teacher_ids) - set(allowed) - {actor.id}
    if not new:
        return
    teachers = set(
        db.session.scalars(
            select(User.id)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.id.in_(new), User.is_active, RoleGrant.role == Role.TEACHER)
        )
    )
    if teachers != new:
        raise ValidationFailed(fields={"teacher_ids": N_("Choose teachers from the list.")})


def _check_category(org: Organization, category_id: int | None, allowed: int | None = None) -> None:
    """A top-level category, or a subcategory that is in use and belongs to the course's org or one
    above it (a course keeps a subcategory it already had even after it is retired)."""
    if category_id is None or category_id == allowed:
        return
    category = db.session.get(Category, category_id) if 0 < category_id < 2**31 else None
    if category is not None and category.parent_id is not None:
        owner = db.session.get(Organization, category.org_id) if category.org_id else None
        if category.is_retired or (owner is not None and not org.path.startswith(owner.path)):
            category = None
    if category is None:
        raise ValidationFailed(fields={"category_id": N_("Not a valid choice.")})


def _media_ids(revision: CourseRevision | None) -> set[int]:
    if revision is None:
        return set()
    return {
        int(i) for i in (lesson.get("media_asset_id") for lesson in revision.lessons) if isinstance(i, int)
    }


def _sync_lessons(course: Course, revision: CourseRevision) -> None:
    """Publish the revision's lessons as rows with stable ids; every lesson's media must be ready."""
    from lms.media.models import MediaAsset

    ids = sorted(_media_ids(revision))
    assets = (
        {a.id: a for a in db.session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids)))} if ids else {}
    )
    for lesson in revision.lessons:
        asset_id = lesson.get("media_asset_id")
        if asset_id is not None and (asset_id not in assets or assets[asset_id].status != AssetStatus.READY):
            raise LessonMediaNotReady(title=lesson.get("title", ""))
    existing = {
        row.key: row for row in db.session.scalars(select(Lesson).where(Lesson.course_id == course.id))
    }
    for row in existing.values():
        row.is_active = False
    published = []
    for position, lesson in enumerate(revision.lessons):
        row = existing.get(lesson["key"])
        if row is None:
            row = Lesson(course_id=course.id, key=lesson["key"])
            db.session.add(row)
        asset = assets.get(lesson.get("media_asset_id"))  # type: ignore[arg-type]
        row.position, row.title, row.is_active = position, lesson["title"], True
        row.media_asset_id = asset.id if asset else None
        row.material_id = lesson.get("material_id") if asset is None else None
        row.duration_s = round(asset.duration_s or 0) if asset else int(lesson.get("duration_s") or 0)
        published.append(lesson | {"duration_s": row.duration_s})  # ffprobe's duration is what counts
    revision.lessons = published


def _changed(course: Course, *, published_state: bool = True) -> None:
    """Bump the version search compares and tell subscribers (search sync) inside this transaction.
    When what is published changed (``published_state``), rebuild the derived visibility rows too."""
    if published_state:
        db.session.execute(delete(CourseVisibility).where(CourseVisibility.course_id == course.id))
        if course.status == CourseStatus.PUBLISHED and course.published_revision is not None:
            for path in sorted(set(course.published_revision.visibility_paths)):
                db.session.add(CourseVisibility(course_id=course.id, org_path=path))
    course.version += 1
    db.session.flush()
    course_changed.send(course)


def create_course(
    *,
    actor: User,
    org: Organization,
    data: CourseData,
    visibility_paths: list[str] | None = None,
    code: str | None = None,
) -> Course:
    """A draft in ``org`` (the author's own org or one they administer), visible to its subtree by default."""
    require(
        permissions.can_author(actor)
        and (actor.org.path.startswith(org.path) or permissions.can_review(actor, org.path)),
        "create_course",
    )
    _check_media(actor, data)
    _check_materials(actor, data)
    _check_teachers(actor, data)
    _check_category(org, data.category_id)
    visibility_paths = _check_visibility(org, visibility_paths)
    code = (code or "").strip()[:64] or None
    if code and db.session.scalar(select(Course.id).where(Course.code == code)) is not None:
        raise CourseCodeTaken(fields={"code": CourseCodeTaken.message})
    course = Course(org_id=org.id, code=code, created_by_id=actor.id, status=CourseStatus.DRAFT)
    db.session.add(course)
    db.session.flush()
    revision = CourseRevision(course_id=course.id, number=1, visibility_paths=visibility_paths or [org.path])
    _apply(revision, data)
    if not revision.teacher_ids:
        revision.teacher_ids = [actor.id]
    db.session.add(revision)
    db.session.flush()
    course.working_revision_id = revision.id
    db.session.flush()
    db.session.refresh(course)
    _audit(actor, "course.create", course, org, revision.title, after=_snapshot(revision))
    return course


def edit_course(
    *, actor: User, course: Course, data: CourseData, visibility_paths: list[str] | None = None
) -> CourseRevision:
    """Edit the working revision; on a published course with none, open a new one from the published."""
    org = _org(course)
    require(permissions.can_edit(actor, course, org.path), "edit_course")
    revision = course.working_revision
    if revision is not None and revision.status == RevisionStatus.SUBMITTED:
        raise NotEditable()
    _check_media(actor, data, _media_ids(course.published_revision) | _media_ids(revision))
    _check_materials(actor, data, _material_ids(course.published_revision) | _material_ids(revision))
    current = revision or course.published_revision
    assert current is not None
    _check_teachers(actor, data, current.teacher_ids)
    _check_category(org, data.category_id, current.category_id)
    visibility_paths = _check_visibility(org, visibility_paths)
    before = _snapshot(current)
    if revision is None:
        published = course.published_revision
        assert published is not None
        number = (
            db.session.scalar(
                select(func.max(CourseRevision.number)).where(CourseRevision.course_id == course.id)
            )
            or 0
        ) + 1
        revision = CourseRevision(
            course_id=course.id, number=number, visibility_paths=published.visibility_paths
        )
        db.session.add(revision)
    _apply(revision, data)
    db.session.flush()
    course.working_revision_id = revision.id
    if visibility_paths is not None:
        revision.visibility_paths = visibility_paths
    revision.status = RevisionStatus.DRAFT
    db.session.flush()
    db.session.refresh(course)
    audit.record_change(
        actor=actor,
        action="course.edit",
        target_type="course",
        target_id=course.id,
        target_label=revision.title,
        org_path=org.path,
        before=before | {"revision": current.number},
        after=_snapshot(revision) | {"revision": revision.number},
    )
    return revision


def delete_draft(*, actor: User, course: Course) -> list[str]:
    """Delete a course that was never published (a draft, or one sent back): nothing of it was ever
    in the catalog or in search, and no learner has it. Its reading material goes too; the object-store
    keys of its PDFs are returned for the caller to delete after the commit. Audited."""
    org = _org(course)
    require(permissions.can_edit(actor, course, org.path), "delete_course")
    revision = course.working_revision
    if (
        course.status != CourseStatus.DRAFT
        or course.published_revision_id is not None
        or course.published_at is not None
        or revision is None
        or revision.status == RevisionStatus.SUBMITTED
    ):
        raise NotDeletable()
    title, snapshot, course_id = revision.title, _snapshot(revision), course.id
    revisions = db.session.scalars(select(CourseRevision).where(CourseRevision.course_id == course_id)).all()
    material_ids = sorted(set().union(*(_material_ids(r) for r in revisions)))
    materials = [
        m for m in (db.session.get(CourseMaterial, i) for i in material_ids) if m and _only_here(m, course_id)
    ]
    keys = [m.object_key for m in materials if m.object_key]
    try:
        with db.session.begin_nested():
            course.working_revision_id = None
            db.session.flush()
            db.session.execute(delete(CourseRevision).where(CourseRevision.course_id == course_id))
            db.session.delete(course)
            for material in materials:  # written for this course and used nowhere else
                db.session.delete(material)
            db.session.flush()
    except IntegrityError as error:  # e.g. a test (exam) was attached to the draft
        raise CourseInUse() from error
    audit.record(
        actor=actor,
        action="course.delete",
        target_type="course",
        target_id=course_id,
        target_label=title,
        org_path=org.path,
        before=snapshot,
    )
    return keys


def submit_for_review(*, actor: User, course: Course, now: datetime | None = None) -> CourseRevision:
    org = _org(course)
    require(permissions.can_edit(actor, course, org.path), "submit_course")
    revision = course.working_revision
    if revision is None or revision.status not in (RevisionStatus.DRAFT, RevisionStatus.REJECTED):
        raise NothingToSubmit()
    revision.status = RevisionStatus.SUBMITTED
    revision.submitted_at = now or utcnow()
    if course.status == CourseStatus.DRAFT:
        course.status = CourseStatus.IN_REVIEW
    db.session.flush()
    _audit(actor, "course.submit", course, org, revision.title, after={"revision": revision.number})
    return revision


def _pending(actor: User, course: Course) -> tuple[Organization, CourseRevision]:
    org = _org(course)
    require(permissions.can_review(actor, org.path), "review_course")
    revision = course.working_revision
    if (
        revision is None
        or revision.status != RevisionStatus.SUBMITTED
        or course.status == CourseStatus.ARCHIVED
    ):
        raise NotInReview()
    return org, revision


def approve(*, actor: User, course: Course, comment: str = "", now: datetime | None = None) -> Course:
    """Publish the submitted revision (the previous published one stays in history)."""
    org, revision = _pending(actor, course)
    now = now or utcnow()
    before = _snapshot(course.published_revision) if course.published_revision else None
    _sync_lessons(course, revision)
    revision.status = RevisionStatus.APPROVED
    revision.reviewed_by_id, revision.reviewed_at, revision.review_comment = actor.id, now, comment[:500]
    course.published_revision_id, course.working_revision_id = revision.id, None
    course.status = CourseStatus.PUBLISHED
    course.published_at = course.published_at or now
    db.session.flush()
    db.session.refresh(course)
    _audit(actor, "course.approve", course, org, revision.title, before=before, after=_snapshot(revision))
    _changed(course)
    return course


def reject(*, actor: User, course: Course, reason: str, now: datetime | None = None) -> CourseRevision:
    reason = reason.strip()
    if not reason:
        raise ReasonRequired(fields={"reason": ReasonRequired.message})
    org, revision = _pending(actor, course)
    revision.status = RevisionStatus.REJECTED
    revision.reviewed_by_id, revision.reviewed_at, revision.review_comment = (
        actor.id,
        now or utcnow(),
        reason[:500],
    )
    if course.status == CourseStatus.IN_REVIEW:
        course.status = CourseStatus.DRAFT
    db.session.flush()
    _audit(actor, "course.reject", course, org, revision.title, after={"reason": reason[:500]})
    return revision


def archive(*, actor: User, course: Course) -> Course:
    org = _org(course)
    require(permissions.can_review(actor, org.path), "archive_course")
    if course.status == CourseStatus.ARCHIVED:
        return course
    before = course.status
    course.status = CourseStatus.ARCHIVED
    working = course.working_revision
    if working is not None and working.status == RevisionStatus.SUBMITTED:
        working.status = RevisionStatus.DRAFT  # out of the review queue: approving must not republish it
    db.session.flush()
    _audit(
        actor,
        "course.archive",
        course,
        org,
        course.current.title,
        before={"status": str(before)},
        after={"status": "archived"},
    )
    _changed(course)
    return course


def course_data_of(revision: CourseRevision) -> CourseData:
    """The editable content of a revision (to prefill the editor)."""
    return CourseData(**{name: getattr(revision, name) for name in CONTENT_FIELDS})


def rate_course(*, actor: User, course: Course, stars: object, comment: str = "") -> CourseRating:
    """The actor's rating of a published course they may see (the caller loads it through
    ``queries.get_published_course``); rating again replaces the earlier one."""
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        raise ValidationFailed(fields={"stars": N_("Choose from 1 to 5 stars.")})
    comment = comment.strip()
    if len(comment) > 500:
        raise CommentTooLong(fields={"comment": CommentTooLong.message})
    rating = db.session.scalar(
        select(CourseRating).where(CourseRating.course_id == course.id, CourseRating.user_id == actor.id)
    )
    if rating is None:
        rating = CourseRating(course_id=course.id, user_id=actor.id, stars=stars, comment=comment)
        db.session.add(rating)
    else:
        rating.stars, rating.comment = stars, comment
    db.session.flush()
    _refresh_rating(course)
    return rating


def moderate_rating(
    *, actor: User, course: Course, rating: CourseRating, hidden: bool, reason: str = ""
) -> None:
    """An admin of the course's org hides (or shows again) a comment; audited with the reason."""
    org = _org(course)
    require(permissions.can_review(actor, org.path), "moderate_rating")
    if hidden and not reason.strip():
        raise ReasonRequired(fields={"reason": N_("Give a reason for hiding the comment.")})
    before = {"is_hidden": rating.is_hidden}
    rating.is_hidden, rating.moderated_by_id, rating.moderation_reason = (
        hidden,
        actor.id,
        reason.strip()[:200],
    )
    db.session.flush()
    _audit(
        actor,
        "course.moderate_rating",
        course,
        org,
        course.current.title,
        before=before,
        after={"is_hidden": hidden, "rating_id": rating.id, "reason": rating.moderation_reason},
    )


def _refresh_rating(course: Course) -> None:
    count, average = db.session.execute(
        select(func.count(CourseRating.id), func.avg(CourseRating.stars)).where(
            CourseRating.course_id == course.id
        )
    ).one()
    course.rating_count = count
    course.rating_avg = Decimal(str(round(float(average or 0), 2)))
    _changed(course, published_state=False)  # only the rating changed: visibility rows stay


def set_learner_count(course: Course, count: int) -> None:
    """The enrollment service keeps this count; search sorts by it (popularity)."""
    if course.learner_count != count:
        course.learner_count = count
        _changed(course, published_state=False)
