from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import TimestampMixin, UTCDateTime, db, intpk, utcnow


class OrgKind(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    UNIT = "unit"


ORG_KIND_LABELS = {
    OrgKind.PROVINCE: "省",
    OrgKind.CITY: "市",
    OrgKind.COUNTY: "县（区）",
    OrgKind.TOWNSHIP: "乡镇（街道）",
    OrgKind.UNIT: "单位",
}


class Rank(enum.StrEnum):
    """职级."""

    BUREAU = "bureau"  # 厅局级
    DIVISION = "division"  # 县处级
    SECTION = "section"  # 乡科级
    BELOW_SECTION = "below_section"  # 科级以下
    GENERAL = "general"  # 一般干部


RANK_LABELS = {
    Rank.BUREAU: "厅局级",
    Rank.DIVISION: "县处级",
    Rank.SECTION: "乡科级",
    Rank.BELOW_SECTION: "科级以下",
    Rank.GENERAL: "一般干部",
}


class CadreCategory(enum.StrEnum):
    """干部类别 (domain.md)."""

    LEADERSHIP = "leadership"  # 党政领导班子成员
    CIVIL_SERVANT = "civil_servant"  # 机关公务员
    ENTERPRISE = "enterprise"  # 企业领导人员
    INSTITUTION = "institution"  # 事业单位领导人员
    PROFESSIONAL = "professional"  # 专业技术人员
    YOUNG = "young"  # 年轻干部
    GRASSROOTS = "grassroots"  # 基层干部
    ETHNIC_REGION = "ethnic_region"  # 民族地区干部
    POVERTY_ALLEVIATION = "poverty_alleviation"  # 脱贫攻坚干部


CADRE_CATEGORY_LABELS = {
    CadreCategory.LEADERSHIP: "党政领导班子成员",
    CadreCategory.CIVIL_SERVANT: "机关公务员",
    CadreCategory.ENTERPRISE: "企业领导人员",
    CadreCategory.INSTITUTION: "事业单位领导人员",
    CadreCategory.PROFESSIONAL: "专业技术人员",
    CadreCategory.YOUNG: "年轻干部",
    CadreCategory.GRASSROOTS: "基层干部",
    CadreCategory.ETHNIC_REGION: "民族地区干部",
    CadreCategory.POVERTY_ALLEVIATION: "脱贫攻坚干部",
}


class Role(enum.StrEnum):
    TEACHER = "teacher"
    ORG_ADMIN = "org_admin"
    SYSTEM_ADMIN = "system_admin"


ROLE_LABELS = {Role.TEACHER: "教师", Role.ORG_ADMIN: "单位管理员", Role.SYSTEM_ADMIN: "系统管理员"}


class Organization(TimestampMixin, db.Model):
    """A node of the org tree. ``path`` is the materialized path of ids, e.g. ``/1/4/9/``.

    A subtree is every org whose path starts with the root's path, one indexed range scan.
    """

    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[OrgKind] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    path: Mapped[str] = mapped_column(String(500), default="")
    depth: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Organization | None] = relationship(remote_side="Organization.id", lazy="raise")

    def contains(self, other: Organization) -> bool:
        return other.path.startswith(self.path)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[intpk]
    login_name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    rank: Mapped[Rank | None] = mapped_column(String(24))
    cadre_category: Mapped[CadreCategory | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_learner: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped on password change or deactivation: older web sessions stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    org: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)

    # Flask-Login
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class RoleGrant(db.Model):
    """A role held by a user. ``org_id`` scopes an org admin to that org's subtree."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "org_id"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(String(16))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    org: Mapped[Organization | None] = relationship(lazy="joined")


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class LoginThrottle(db.Model):
    """Failed sign-ins per key (a login name or a client address), whether or not the user exists."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


# LIKE 'prefix%' subtree scans use this index on PostgreSQL whatever the database collation.
Index("ix_organizations_path", Organization.path, postgresql_ops={"path": "varchar_pattern_ops"})
