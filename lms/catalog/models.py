"""Courses keep a stable identity; their content lives in numbered revisions.

A teacher edits a *working* revision; an admin of the owning org approves it, and it becomes the
*published* revision. Editing a published course opens a new working revision while the published
one stays live, so learners keep their progress. Lessons carry a stable ``key`` across revisions.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import TimestampMixin, UTCDateTime, db, intpk, utcnow


class CourseStatus(enum.StrEnum):
    DRAFT = "draft"  # never published; being written
    IN_REVIEW = "in_review"  # never published; submitted
    PUBLISHED = "published"  # live (it may have a newer revision in the works)
    ARCHIVED = "archived"  # withdrawn from the catalog


class RevisionStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class CourseKind(enum.StrEnum):
    VIDEO = "video"  # 视频课程
    MICRO = "micro"  # 微课
    AUDIO = "audio"  # 音频课程


class CreditRule(enum.StrEnum):
    FIXED = "fixed"  # the course's hours once it is completed
    PER_MINUTE = "per_minute"  # verified minutes / minutes_per_hour


class CourseUse(enum.StrEnum):
    REQUIRED = "required"  # 必修
    ELECTIVE = "elective"  # 选修
    BOTH = "both"


KIND_LABELS = {CourseKind.VIDEO: "视频课程", CourseKind.MICRO: "微课", CourseKind.AUDIO: "音频课程"}
USE_LABELS = {CourseUse.REQUIRED: "必修", CourseUse.ELECTIVE: "选修", CourseUse.BOTH: "必修/选修"}
STATUS_LABELS = {
    CourseStatus.DRAFT: "草稿",
    CourseStatus.IN_REVIEW: "审核中",
    CourseStatus.PUBLISHED: "已发布",
    CourseStatus.ARCHIVED: "已归档",
}


class Category(db.Model):
    """Content categories (domain.md): four fixed top-level ones and admin-defined subcategories."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(60))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # A subcategory belongs to the org whose admin added it and is offered to courses in that subtree;
    # the four top-level categories have none. A retired one is offered no more (courses keep it).
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_retired: Mapped[bool] = mapped_column(default=False, server_default=sa_false())


class Course(TimestampMixin, db.Model):
    __tablename__ = "courses"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # 课程编号: an optional stable key, e.g. a vendor's course id, so a re-import updates the same course.
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[CourseStatus] = mapped_column(String(16), default=CourseStatus.DRAFT, index=True)
    published_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_revisions.id", use_alter=True, name="fk_courses_published_revision_id")
    )
    working_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_revisions.id", use_alter=True, name="fk_courses_working_revision_id")
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on every change that search must see; the index keeps the highest version it got.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Derived from course_ratings (kept by the rating service) so that search can sort by it.
    rating_avg: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("0"))
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    # Cadres who selected or studied it (kept by the enrollment service): the catalog's popularity sort
    learner_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    published_revision: Mapped[CourseRevision | None] = relationship(
        foreign_keys=[published_revision_id], lazy="joined", post_update=True
    )
    working_revision: Mapped[CourseRevision | None] = relationship(
        foreign_keys=[working_revision_id], lazy="joined", post_update=True
    )

    @property
    def current(self) -> CourseRevision:
        """The revision a learner sees (published) or, before publication, the one being written."""
        revision = self.published_revision or self.working_revision
        assert revision is not None
        return revision


class CourseRevision(db.Model):
    __tablename__ = "course_revisions"
    __table_args__ = (UniqueConstraint("course_id", "number"),)

    id: Mapped[intpk]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[RevisionStatus] = mapped_column(String(16), default=RevisionStatus.DRAFT)
    title: Mapped[str] = mapped_column(String(200))
    summary_html: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[CourseKind] = mapped_column(String(16), default=CourseKind.VIDEO)
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("1"))
    credit_rule: Mapped[CreditRule] = mapped_column(String(16), default=CreditRule.FIXED)
    minutes_per_hour: Mapped[int] = mapped_column(Integer, default=45)
    use: Mapped[CourseUse] = mapped_column(String(16), default=CourseUse.ELECTIVE)
    cover_asset_id: Mapped[int | None] = mapped_column(ForeignKey("media_assets.id"))  # an image asset
    # Learners may not skip ahead of the furthest point they have watched (seeking back is fine)
    no_seek_ahead: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Org paths whose subtrees may see the course (default: the owning org's subtree).
    visibility_paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    teacher_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # 主讲人 without an account here (e.g. a Party-school professor of a vendor's course)
    lecturers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"key": stable id, "title": ..., "duration_s": int, "media_asset_id": int | None}]
    lessons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_comment: Mapped[str] = mapped_column(String(500), default="")

    category: Mapped[Category | None] = relationship(lazy="joined")

    @property
    def duration_s(self) -> int:
        return sum(int(lesson.get("duration_s") or 0) for lesson in self.lessons)


class CourseVisibility(db.Model):
    """Derived from the published revision's ``visibility_paths`` so that SQL can filter by it (the
    database fallback of search and learners' course lists): a learner at org path P sees a course when
    one of its rows holds an ancestor-or-self of P."""

    __tablename__ = "course_visibility"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    org_path: Mapped[str] = mapped_column(String(500), primary_key=True, index=True)


class CourseRating(TimestampMixin, db.Model):
    """A cadre's rating (1–5) and optional comment on a course; one per cadre and course, updatable.
    An admin may hide a comment (moderation); the stars still count."""

    __tablename__ = "course_ratings"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[intpk]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")
    is_hidden: Mapped[bool] = mapped_column(default=False)
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    moderation_reason: Mapped[str] = mapped_column(String(200), default="")


class Lesson(db.Model):
    """A published lesson with a stable id (its course and ``key`` across revisions), derived from the
    published revision when it is approved. Learners' progress and playback refer to it, so editing a
    course keeps their progress; a lesson dropped from the course stays as an inactive row."""

    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("course_id", "key"),)

    id: Mapped[intpk]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    media_asset_id: Mapped[int | None] = mapped_column(ForeignKey("media_assets.id"), index=True)
    # Or reading material (text or a PDF) instead of a recording; it earns no watch time.
    material_id: Mapped[int | None] = mapped_column(ForeignKey("course_materials.id"), index=True)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class MaterialKind(enum.StrEnum):
    TEXT = "text"  # sanitized rich text written in the editor
    PDF = "pdf"  # a PDF file in the object store


class CourseMaterial(db.Model):
    """Reading material a lesson may carry instead of media. Never changed once written (revisions
    refer to it by id), so a published revision keeps showing what was approved."""

    __tablename__ = "course_materials"

    id: Mapped[intpk]
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[MaterialKind] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200), default="")
    object_key: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    text_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
