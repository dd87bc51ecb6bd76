from __future__ import annotations

import pytest
from sqlalchemy import select

from lms.accounts import queries, services
from lms.accounts.errors import InvalidMove, OrgNameTaken
from lms.accounts.models import Organization, OrgKind
from lms.accounts.permissions import admin_scope
from lms.audit.models import AuditEntry
from lms.core.db import db
from lms.core.errors import PermissionDenied
from tests.factories import make_admin, make_org, make_user, province_tree


def test_paths_and_depths_follow_the_tree(db_session):
    orgs = province_tree()
    unit = orgs["unit12"]
    assert unit.path == f"{orgs['province'].path}{orgs['city1'].id}/{orgs['county12'].id}/{unit.id}/"
    assert unit.depth == 3
    scope = admin_scope(make_admin(of=orgs["city1"]))
    names = [o.name for o in queries.list_orgs(scope, per_page=100).items]
    assert names[0] == "测试1市" and len(names) == 5  # the city, its 2 counties and their 2 units
    assert names.index("测试1市1县") < names.index("测试1市1县组织部") < names.index("测试1市2县")


def test_moving_a_county_moves_its_whole_subtree(db_session):
    orgs = province_tree()
    admin = make_admin(of=orgs["province"])
    cadre = make_user(org=orgs["unit11"])
    moved = services.move_org(actor=admin, org=orgs["county11"], new_parent=orgs["city2"])
    db.session.expire_all()
    unit = db.session.get(Organization, orgs["unit11"].id)
    assert moved.path == f"{orgs['city2'].path}{moved.id}/"
    assert unit.path == f"{moved.path}{unit.id}/" and unit.depth == 3
    city2_admin = make_admin(of=orgs["city2"])
    assert queries.get_user(admin_scope(city2_admin), cadre.id).id == cadre.id
    city1_admin = make_admin(of=orgs["city1"])
    with pytest.raises(Exception, match="Not found"):
        queries.get_user(admin_scope(city1_admin), cadre.id)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "org.move"))
    assert entry.before["parent_id"] == orgs["city1"].id and entry.after["parent_id"] == orgs["city2"].id


def test_a_unit_cannot_move_under_its_own_descendant(db_session):
    orgs = province_tree()
    admin = make_admin(of=orgs["province"])
    with pytest.raises(InvalidMove):
        services.move_org(actor=admin, org=orgs["city1"], new_parent=orgs["unit11"])


def test_an_admin_cannot_move_the_root_of_their_own_scope(db_session):
    orgs = province_tree()
    admin = make_admin(of=orgs["county11"])
    with pytest.raises(PermissionDenied):
        services.move_org(actor=admin, org=orgs["county11"], new_parent=orgs["unit11"])


def test_sibling_names_are_unique_and_codes_global(db_session):
    orgs = province_tree()
    admin = make_admin(of=orgs["province"])
    with pytest.raises(OrgNameTaken):
        services.create_org(actor=admin, parent=orgs["city1"], name="测试1市1县", kind=OrgKind.COUNTY)
    again = services.create_org(actor=admin, parent=orgs["city2"], name="测试1市1县", kind=OrgKind.COUNTY)
    assert again.parent_id == orgs["city2"].id


def test_like_wildcards_in_paths_cannot_widen_a_scope(db_session):
    # Paths are digits and slashes, but scoping uses escaped LIKE anyway; ids 1 and 10 must not mix.
    orgs = [make_org() for _ in range(12)]
    first, tenth = orgs[0], orgs[9]
    admin = make_admin(of=first)
    assert not admin_scope(admin).covers(tenth)
    assert tenth.id not in {o.id for o in queries.list_orgs(admin_scope(admin), per_page=100).items}


def test_web_admin_creates_renames_and_moves_units(client, db_session):
    from tests.factories import csrf_token, login

    orgs = province_tree()
    admin = make_admin(of=orgs["city1"])
    login(client, admin)
    token = csrf_token(client, "/admin/orgs/new")
    created = client.post(
        "/admin/orgs/new",
        data={
            "csrf_token": token,
            "name": "新设单位",
            "kind": "unit",
            "code": "new-1",
            "parent_id": orgs["county11"].id,
        },
    )
    assert created.status_code == 302
    org = db.session.scalar(select(Organization).where(Organization.code == "NEW-1"))
    assert org.parent_id == orgs["county11"].id
    edited = client.post(
        f"/admin/orgs/{org.id}/edit",
        data={"csrf_token": token, "name": "改名单位", "code": "NEW-1", "parent_id": orgs["county12"].id},
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    assert (org.name, org.parent_id) == ("改名单位", orgs["county12"].id)
    outside = client.post(
        f"/admin/orgs/{org.id}/edit",
        data={"csrf_token": token, "name": "改名单位", "code": "NEW-1", "parent_id": orgs["county21"].id},
    )
    assert (
        outside.status_code == 200 and db.session.get(Organization, org.id).parent_id == orgs["county12"].id
    )
    listing = client.get("/admin/orgs").get_data(as_text=True)
    assert "改名单位" in listing and "测试2市" not in listing
