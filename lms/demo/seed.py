"""``flask lms seed-demo``: deterministic demo data; running it again changes nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select

from lms.accounts import services
from lms.accounts.models import CadreCategory, Organization, OrgKind, Rank, Role, RoleGrant, User
from lms.accounts.passwords import hash_password
from lms.core.db import db

DEMO_PASSWORD = "demo2026"  # noqa: S105 - the published demo password

# (code, name, kind, children)
TREE: tuple = (
    "SF",
    "示范省",
    OrgKind.PROVINCE,
    (
        ("SF-ZZB", "省委组织部", OrgKind.UNIT, ()),
        ("SF-DX", "省委党校", OrgKind.UNIT, ()),
        (
            "SF01",
            "东州市",
            OrgKind.CITY,
            (
                ("SF01-ZZB", "东州市委组织部", OrgKind.UNIT, ()),
                ("SF01-CZJ", "东州市财政局", OrgKind.UNIT, ()),
                (
                    "SF0101",
                    "东城区",
                    OrgKind.COUNTY,
                    (
                        ("SF0101-ZZB", "东城区委组织部", OrgKind.UNIT, ()),
                        ("SF0101-JYJ", "东城区教育局", OrgKind.UNIT, ()),
                        ("SF0101-HY", "和平街道", OrgKind.TOWNSHIP, ()),
                    ),
                ),
                (
                    "SF0102",
                    "清河县",
                    OrgKind.COUNTY,
                    (
                        ("SF0102-ZZB", "清河县委组织部", OrgKind.UNIT, ()),
                        ("SF0102-FGJ", "清河县发展和改革局", OrgKind.UNIT, ()),
                        ("SF0102-LQ", "柳桥镇", OrgKind.TOWNSHIP, ()),
                    ),
                ),
            ),
        ),
        (
            "SF02",
            "西江市",
            OrgKind.CITY,
            (
                ("SF02-ZZB", "西江市委组织部", OrgKind.UNIT, ()),
                (
                    "SF0201",
                    "江北区",
                    OrgKind.COUNTY,
                    (
                        ("SF0201-XCB", "江北区委宣传部", OrgKind.UNIT, ()),
                        ("SF0201-NYJ", "江北区农业农村局", OrgKind.UNIT, ()),
                    ),
                ),
                (
                    "SF0202",
                    "石门县",
                    OrgKind.COUNTY,
                    (
                        ("SF0202-ZZB", "石门县委组织部", OrgKind.UNIT, ()),
                        ("SF0202-WJ", "石门县卫生健康局", OrgKind.UNIT, ()),
                        ("SF0202-SP", "石坪乡", OrgKind.TOWNSHIP, ()),
                    ),
                ),
            ),
        ),
        (
            "SF03",
            "南山市",
            OrgKind.CITY,
            (
                ("SF03-ZZB", "南山市委组织部", OrgKind.UNIT, ()),
                (
                    "SF0301",
                    "南湖区",
                    OrgKind.COUNTY,
                    (
                        ("SF0301-SWJ", "南湖区商务局", OrgKind.UNIT, ()),
                        ("SF0301-ZR", "南湖区自然资源局", OrgKind.UNIT, ()),
                    ),
                ),
                (
                    "SF0302",
                    "松林县",
                    OrgKind.COUNTY,
                    (
                        ("SF0302-ZZB", "松林县委组织部", OrgKind.UNIT, ()),
                        ("SF0302-MZ", "松林县民族宗教事务局", OrgKind.UNIT, ()),
                        ("SF0302-HS", "黄沙镇", OrgKind.TOWNSHIP, ()),
                    ),
                ),
            ),
        ),
    ),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌宇浩凯鹏晨欣怡婷雪梅海波宁辉"
RANK_WEIGHTS = [
    (Rank.BELOW_SECTION, 45),
    (Rank.SECTION, 30),
    (Rank.DIVISION, 12),
    (Rank.BUREAU, 3),
    (Rank.GENERAL, 10),
]
CATEGORY_WEIGHTS = [
    (CadreCategory.CIVIL_SERVANT, 40),
    (CadreCategory.GRASSROOTS, 18),
    (CadreCategory.YOUNG, 12),
    (CadreCategory.PROFESSIONAL, 10),
    (CadreCategory.LEADERSHIP, 8),
    (CadreCategory.INSTITUTION, 5),
    (CadreCategory.ENTERPRISE, 3),
    (CadreCategory.ETHNIC_REGION, 2),
    (CadreCategory.POVERTY_ALLEVIATION, 2),
]
CADRE_COUNT = 200


@dataclass(frozen=True)
class DemoLogin:
    login_name: str
    display_name: str
    role: str
    org: str


@dataclass(frozen=True)
class SeedReport:
    created_orgs: int
    created_users: int
    logins: list[DemoLogin]
    password: str
    created_courses: int = 0


def _weighted(rng: random.Random, weights: list) -> object:  # type: ignore[type-arg]
    return rng.choices([w[0] for w in weights], weights=[w[1] for w in weights])[0]


def seed_demo() -> SeedReport:
    created_orgs = created_users = 0
    orgs: dict[str, Organization] = {}

    def ensure_org(node: tuple, parent: Organization | None) -> None:  # type: ignore[type-arg]
        nonlocal created_orgs
        code, name, kind, children = node
        org = db.session.scalar(select(Organization).where(Organization.code == code))
        if org is None:
            org = services.create_org(actor=None, parent=parent, name=name, kind=kind, code=code)
            created_orgs += 1
        orgs[code] = org
        for child in children:
            ensure_org(child, org)

    ensure_org(TREE, None)
    password_hash = hash_password(DEMO_PASSWORD)
    logins: list[DemoLogin] = []

    def ensure_user(
        login: str,
        name: str,
        org_code: str,
        role_label: str,
        *,
        rank: Rank | None = None,
        category: CadreCategory | None = None,
        learner: bool = True,
    ) -> User:
        nonlocal created_users
        user = db.session.scalar(select(User).where(User.login_name == login))
        if user is None:
            data = services.UserData(
                login_name=login, display_name=name, rank=rank, cadre_category=category, phone=None
            )
            user, _ = services.create_user(
                actor=None,
                org=orgs[org_code],
                data=data,
                password_hash=password_hash,
                must_change_password=False,
                is_learner=learner,
            )
            created_users += 1
        logins.append(DemoLogin(login, user.display_name, role_label, orgs[org_code].name))
        return user

    def ensure_grant(user: User, role: Role, org_code: str | None) -> None:
        org_id = orgs[org_code].id if org_code else None
        exists = db.session.scalar(
            select(RoleGrant.id).where(
                RoleGrant.user_id == user.id,
                RoleGrant.role == role,
                RoleGrant.org_id.is_(None) if org_id is None else RoleGrant.org_id == org_id,
            )
        )
        if exists is None:
            db.session.add(RoleGrant(user_id=user.id, role=role, org_id=org_id))

    ensure_grant(
        ensure_user("admin", "系统管理员", "SF-ZZB", "系统管理员", learner=False), Role.SYSTEM_ADMIN, None
    )
    ensure_grant(
        ensure_user(
            "sf_admin",
            "省级管理员",
            "SF-ZZB",
            "省级管理员",
            rank=Rank.DIVISION,
            category=CadreCategory.CIVIL_SERVANT,
        ),
        Role.ORG_ADMIN,
        "SF",
    )
    admin_orgs = [code for code in orgs if len(code) in (4, 6) and "-" not in code]  # cities and counties
    for code in admin_orgs:
        level = "市级管理员" if len(code) == 4 else "县级管理员"
        unit = f"{code}-ZZB" if f"{code}-ZZB" in orgs else next(c for c in orgs if c.startswith(f"{code}-"))
        user = ensure_user(
            f"{code.lower()}_admin",
            f"{orgs[code].name}管理员",
            unit,
            level,
            rank=Rank.SECTION,
            category=CadreCategory.CIVIL_SERVANT,
        )
        ensure_grant(user, Role.ORG_ADMIN, code)
    for i, name in enumerate(["周党建", "吴理论", "郑法治", "孙经济", "钱数字"], start=1):
        ensure_grant(ensure_user(f"teacher{i:02d}", name, "SF-DX", "教师", learner=False), Role.TEACHER, None)

    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    units = [code for code, org in orgs.items() if org.kind in (OrgKind.UNIT, OrgKind.TOWNSHIP)]
    for n in range(1, CADRE_COUNT + 1):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        unit = units[(n - 1) % len(units)]
        user = ensure_user(
            f"gb{n:04d}",
            name,
            unit,
            "学员",
            rank=_weighted(rng, RANK_WEIGHTS),  # type: ignore[arg-type]
            category=_weighted(rng, CATEGORY_WEIGHTS),
        )  # type: ignore[arg-type]
    db.session.flush()
    created_courses = seed_demo_courses()
    shown = [login for login in logins if not login.login_name.startswith("gb")] + [
        login for login in logins if login.login_name.startswith("gb")
    ][:3]
    return SeedReport(created_orgs, created_users, shown, DEMO_PASSWORD, created_courses)


def seed_demo_courses() -> int:
    """Create the demo catalog through the catalog services (keyed by code: existing ones are skipped).

    Province-wide courses are written by the demo teacher of their theme (or the province admin when only
    outside lecturers teach them) and approved by ``sf_admin``; city and county courses are written and
    approved by that org's admin. A few stay drafts or wait in the review queue."""
    from lms.catalog import services as catalog
    from lms.catalog.models import Category, Course
    from lms.catalog.validation import clean_course_data
    from lms.demo.courses import demo_courses

    courses = demo_courses()
    existing = set(db.session.scalars(select(Course.code).where(Course.code.like("DEMO-%"))))
    todo = [c for c in courses if c.code not in existing]
    if not todo:
        return 0
    categories = dict(
        db.session.execute(select(Category.name, Category.id).where(Category.parent_id.is_(None))).all()
    )
    logins = (
        {c.teacher for c in todo if c.teacher} | {"sf_admin"} | {f"{c.scope.lower()}_admin" for c in todo}
    )
    users = {u.login_name: u for u in db.session.scalars(select(User).where(User.login_name.in_(logins)))}
    orgs = {
        o.code: o
        for o in db.session.scalars(
            select(Organization).where(Organization.code.in_({c.scope for c in todo}))
        )
    }
    for demo in todo:
        org = orgs[demo.scope]
        admin = users["sf_admin" if demo.scope == "SF" else f"{demo.scope.lower()}_admin"]
        teacher = users[demo.teacher] if demo.teacher else None
        author = teacher if teacher is not None and demo.scope == "SF" else admin
        data = clean_course_data(
            {
                "title": demo.title,
                "summary_html": demo.summary_html,
                "category_id": categories.get(demo.category),
                "tags": list(demo.tags),
                "kind": demo.kind,
                "hours": demo.hours,
                "teacher_ids": [teacher.id] if teacher else [],
                "lecturers": list(demo.lecturers),
                "lessons": [
                    {
                        "key": f"{demo.code.lower().replace('-', '')}l{i}",
                        "title": title,
                        "duration_s": seconds,
                    }
                    for i, (title, seconds) in enumerate(demo.lessons, start=1)
                ],
            }
        )
        course = catalog.create_course(
            actor=author, org=org, data=data, visibility_paths=[org.path], code=demo.code
        )
        if teacher is None:
            # Outside lecturers only: without this the author would be listed as the course's teacher.
            catalog.edit_course(actor=author, course=course, data=data)
        if demo.state == "draft":
            continue
        catalog.submit_for_review(actor=author, course=course)
        if demo.state == "published":
            catalog.approve(actor=admin, course=course)
    return len(todo)
