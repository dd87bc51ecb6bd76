"""学习排行: on by default; an admin switches it off (or on) for a unit's subtree, the nearest setting up
the tree wins, every switch is audited; when off, neither the admins' report pages for that subtree nor
the unit's cadres see a ranking. A cadre sees the top 20 of their own unit this year and their place."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.audit.models import AuditEntry
from lms.core.db import db
from lms.learning.models import LedgerEntry
from tests.factories import bearer, csrf_token, login, make_admin, make_user, province_tree


def credit(user, hours: str, n: int = 0) -> None:  # type: ignore[no-untyped-def]
    db.session.add(
        LedgerEntry(
            user_id=user.id, org_id=user.org_id, year=datetime.now(UTC).year, hours=Decimal(hours),
            kind="credit", source_kind="online_course", use="elective", reference=f"lb:{n}",
            created_at=datetime.now(UTC),
        )
    )  # fmt: skip


@pytest.fixture
def tree():  # type: ignore[no-untyped-def]
    orgs = province_tree()
    # 22 cadres in unit 1-1 (county 1-1) with 1..22 hours, one with none; one attached to county 1-1
    # itself; two in unit 1-2 (county 1-2)
    unit11 = [make_user(org=orgs["unit11"], name=f"一单位{n:02d}") for n in range(1, 23)]
    for n, user in enumerate(unit11, start=1):
        credit(user, str(n))
    idle = make_user(org=orgs["unit11"], name="未学习")
    county_cadre = make_user(org=orgs["county11"], name="县直干部")
    credit(county_cadre, "5", 99)
    unit12 = [make_user(org=orgs["unit12"], name=f"二单位{n}") for n in (1, 2)]
    for n, user in enumerate(unit12, start=1):
        credit(user, str(10 * n), 100 + n)
    county_admin = make_admin(of=orgs["county11"])
    county_admin.is_learner = False
    other_admin = make_admin(of=orgs["county12"])
    other_admin.is_learner = False
    db.session.flush()
    return orgs | {
        "unit11_cadres": unit11, "idle": idle, "unit12_cadres": unit12, "county_cadre": county_cadre,
        "county_admin": county_admin, "other_admin": other_admin,
    }  # fmt: skip


def mine(client, user):  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/reports/my-leaderboard", headers=bearer(user))
    assert response.status_code == 200
    return response.get_json()


def admin_board(client, admin, org):  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/reports/units/{org.id}/leaderboard", headers=bearer(admin))
    assert response.status_code == 200
    return response.get_json()


def switch(client, admin, org, enabled):  # type: ignore[no-untyped-def]
    return client.put(
        f"/api/v1/reports/units/{org.id}/leaderboard/setting",
        json={"enabled": enabled},
        headers=bearer(admin),
    )


def test_a_cadre_sees_the_top_20_of_their_unit_and_their_own_place(client, tree) -> None:  # type: ignore[no-untyped-def]
    cadres = tree["unit11_cadres"]
    top = mine(client, cadres[-1])  # 22 hours: first
    assert top["enabled"] is True and top["org"]["id"] == tree["unit11"].id
    assert [i["hours"] for i in top["items"]] == [float(h) for h in range(22, 2, -1)]
    assert top["items"][0]["me"] is True and top["me"]["place"] == 1 and top["ranked"] == 22
    assert all("一单位" in i["name"] for i in top["items"])  # only their unit, nobody from unit 1-2
    last = mine(client, cadres[0])  # 1 hour: 22nd, below the top 20 but told their place
    assert len(last["items"]) == 20 and not any(i["me"] for i in last["items"])
    assert last["me"] == {"place": 22, "name": cadres[0].display_name, "org": tree["unit11"].name,
                          "hours": 1.0, "me": True}  # fmt: skip
    idle = mine(client, tree["idle"])
    assert idle["me"] is None and len(idle["items"]) == 20
    login(client, cadres[0])
    home = client.get("/").get_data(as_text=True)
    assert "22" in home and "/reports/my-leaderboard" in home
    page = client.get("/reports/my-leaderboard").get_data(as_text=True)
    assert cadres[-1].display_name in page and "<strong>" + cadres[0].display_name in page


def test_an_admin_switches_it_off_for_a_subtree_and_the_nearest_setting_wins(client, tree) -> None:  # type: ignore[no-untyped-def]
    admin, county = tree["county_admin"], tree["county11"]
    off = switch(client, admin, county, False)
    assert off.status_code == 200, off.get_json()
    assert off.get_json() == {
        "org_id": county.id, "enabled": False, "own": False,
        "decided_by": {"id": county.id, "name": county.name, "kind": "county"},
    }  # fmt: skip
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "reports.leaderboard_switch"))
    assert entry.actor_id == admin.id and entry.target_id == str(county.id)
    assert (entry.before, entry.after) == ({"own": None, "enabled": True}, {"own": False, "enabled": False})
    # Hidden from the county's cadres (its unit's and its own) and from the admins' pages for the subtree
    for cadre in (tree["unit11_cadres"][5], tree["county_cadre"]):
        assert mine(client, cadre) == {"enabled": False, "items": [], "me": None}
    assert mine(client, tree["unit12_cadres"][0])["enabled"] is True  # another county
    for org in (county, tree["unit11"]):
        board = admin_board(client, admin, org)
        assert board["enabled"] is False and board["items"] == []
    login(client, tree["unit11_cadres"][5])
    assert "/reports/my-leaderboard" not in client.get("/").get_data(as_text=True)
    # A unit below switches it on for itself: the nearest setting wins there, and only there
    assert switch(client, admin, tree["unit11"], True).get_json()["enabled"] is True
    assert mine(client, tree["unit11_cadres"][5])["enabled"] is True
    assert mine(client, tree["county_cadre"])["enabled"] is False
    assert admin_board(client, admin, tree["unit11"])["items"]
    # Following the unit above again (null) takes the unit's own setting away
    follows = switch(client, admin, tree["unit11"], None).get_json()
    assert follows["own"] is None and follows["enabled"] is False and follows["decided_by"]["id"] == county.id
    assert mine(client, tree["unit11_cadres"][5])["enabled"] is False
    # Elsewhere nothing changed
    assert admin_board(client, tree["other_admin"], tree["county12"])["enabled"] is True
    assert db.session.query(AuditEntry).filter_by(action="reports.leaderboard_switch").count() == 3


def test_only_admins_of_the_unit_switch_it_and_bad_values_are_refused(client, tree) -> None:  # type: ignore[no-untyped-def]
    assert switch(client, tree["other_admin"], tree["county11"], False).status_code == 404
    assert switch(client, tree["unit11_cadres"][0], tree["unit11"], False).status_code == 404
    bad = switch(client, tree["county_admin"], tree["county11"], "maybe")
    assert bad.status_code == 422 and "enabled" in bad.get_json()["fields"]
    missing = client.put(
        f"/api/v1/reports/units/{tree['county11'].id}/leaderboard/setting", json={},
        headers=bearer(tree["county_admin"]),
    )  # fmt: skip
    assert missing.status_code == 422
    assert mine(client, tree["unit11_cadres"][0])["enabled"] is True


def test_the_switch_on_the_report_page(client, tree) -> None:  # type: ignore[no-untyped-def]
    admin, county = tree["county_admin"], tree["county11"]
    login(client, admin)
    path = f"/reports/units/{county.id}/leaderboard"
    page = client.get(path).get_data(as_text=True)
    assert tree["unit11_cadres"][-1].display_name in page
    token = csrf_token(client, path)
    done = client.post(f"{path}/switch", data={"enabled": "off", "csrf_token": token})
    assert done.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert tree["unit11_cadres"][-1].display_name not in page
    assert client.post(f"{path}/switch", data={"enabled": "off"}).status_code == 400  # no CSRF token
    other = tree["county12"]
    assert (
        client.post(
            f"/reports/units/{other.id}/leaderboard/switch", data={"enabled": "on", "csrf_token": token}
        ).status_code
        == 404
    )
