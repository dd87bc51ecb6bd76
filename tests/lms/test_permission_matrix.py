"""An admin sees and changes only their own subtrees, checked through the HTTP API."""

from __future__ import annotations

import pytest

from lms.accounts.models import Role
from tests.factories import bearer, grant, make_admin, make_user, province_tree


@pytest.fixture
def world(db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    people = {
        "county11_admin": make_admin(of=orgs["county11"]),
        "county12_admin": make_admin(of=orgs["county12"]),
        "city1_admin": make_admin(of=orgs["city1"]),
        "cadre11": make_user(org=orgs["unit11"], name="本县学员"),
        "cadre12": make_user(org=orgs["unit12"], name="邻县学员"),
        "cadre21": make_user(org=orgs["unit21"], name="外市学员"),
    }
    return orgs, people


def _ids(response) -> set[int]:  # type: ignore[no-untyped-def]
    return {item["id"] for item in response.get_json()["items"]}


def test_county_admin_lists_only_their_county(client, world):
    orgs, people = world
    headers = bearer(people["county11_admin"])
    users = _ids(client.get("/api/v1/users?per_page=100", headers=headers))
    assert people["cadre11"].id in users
    assert people["cadre12"].id not in users and people["cadre21"].id not in users
    org_ids = _ids(client.get("/api/v1/orgs?per_page=200", headers=headers))
    assert org_ids == {orgs["county11"].id, orgs["unit11"].id}
    # Asking for a neighbour's subtree explicitly is a 404, not an empty page.
    assert client.get(f"/api/v1/users?org_id={orgs['county12'].id}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/orgs?under={orgs['county12'].id}", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/users/{cadre12}", None),
        ("patch", "/api/v1/users/{cadre12}", {"name": "改名"}),
        ("post", "/api/v1/users/{cadre12}/reset-password", None),
        ("get", "/api/v1/orgs/{county12}", None),
        ("patch", "/api/v1/orgs/{county12}", {"name": "改名"}),
        ("patch", "/api/v1/orgs/{unit12}", {"parent_id": "{county11}"}),  # pull their unit into ours
        ("patch", "/api/v1/orgs/{unit11}", {"parent_id": "{county12}"}),  # push ours into theirs
        ("post", "/api/v1/orgs", {"parent_id": "{county12}", "name": "新单位", "kind": "unit"}),
        ("post", "/api/v1/users", {"org_id": "{unit12}", "login_name": "intruder1", "name": "某"}),
        ("patch", "/api/v1/users/{cadre11}", {"org_id": "{unit12}"}),  # move our cadre into theirs
    ],
)
def test_county_admin_cannot_touch_the_neighbouring_county(client, world, method, path, body):
    orgs, people = world
    ids = {name: org.id for name, org in orgs.items()} | {name: user.id for name, user in people.items()}

    def fill(value):  # type: ignore[no-untyped-def]
        if isinstance(value, str) and value.startswith("{"):
            return ids[value.strip("{}")]
        return value

    url = path.format(**ids)
    payload = {k: fill(v) for k, v in body.items()} if body else None
    response = getattr(client, method)(url, json=payload, headers=bearer(people["county11_admin"]))
    assert response.status_code == 404, response.get_json()
    # Nothing changed on the other side.
    check = client.get(f"/api/v1/users/{people['cadre12'].id}", headers=bearer(people["city1_admin"]))
    assert check.get_json()["name"] == "邻县学员"
    assert check.get_json()["org"]["id"] == orgs["unit12"].id


def test_county_admin_cannot_read_the_neighbours_audit_log(client, world):
    _, people = world
    client.patch(
        f"/api/v1/users/{people['cadre12'].id}",
        json={"name": "邻县改名"},
        headers=bearer(people["county12_admin"]),
    )
    mine = client.get("/api/v1/audit", headers=bearer(people["county11_admin"])).get_json()
    assert all(entry["target"]["id"] != str(people["cadre12"].id) for entry in mine["items"])
    theirs = client.get("/api/v1/audit", headers=bearer(people["county12_admin"])).get_json()
    assert any(entry["after"] == {"display_name": "邻县改名"} for entry in theirs["items"])
    city = client.get("/api/v1/audit", headers=bearer(people["city1_admin"])).get_json()
    assert any(entry["after"] == {"display_name": "邻县改名"} for entry in city["items"])


def test_city_admin_manages_both_counties_but_not_the_other_city(client, world):
    orgs, people = world
    headers = bearer(people["city1_admin"])
    users = _ids(client.get("/api/v1/users?per_page=100", headers=headers))
    assert {people["cadre11"].id, people["cadre12"].id} <= users
    assert people["cadre21"].id not in users
    moved = client.patch(
        f"/api/v1/users/{people['cadre11'].id}", json={"org_id": orgs["unit12"].id}, headers=headers
    )
    assert moved.status_code == 200 and moved.get_json()["org"]["id"] == orgs["unit12"].id


def test_admin_of_two_subtrees_sees_both(client, world):
    orgs, people = world
    admin = make_admin(of=orgs["county11"])
    grant(admin, Role.ORG_ADMIN, orgs["county21"])
    users = _ids(client.get("/api/v1/users?per_page=100", headers=bearer(admin)))
    assert {people["cadre11"].id, people["cadre21"].id} <= users
    assert people["cadre12"].id not in users


@pytest.mark.parametrize(
    "path", ["/api/v1/users", "/api/v1/orgs", "/api/v1/audit", "/api/v1/users/{cadre12}"]
)
def test_learners_and_teachers_get_no_admin_api(client, world, path):
    _, people = world
    teacher = grant(make_user(org=people["cadre11"].org), Role.TEACHER)
    for user in (people["cadre11"], teacher):
        response = client.get(path.format(cadre12=people["cadre12"].id), headers=bearer(user))
        assert response.status_code == 403
        assert response.get_json()["message"] == "您没有权限进行此操作。"


@pytest.mark.parametrize("path", ["/admin/users", "/admin/orgs", "/admin/audit", "/admin/users/import"])
def test_admin_pages_refuse_learners(client, world, path):
    from tests.factories import login

    login(client, world[1]["cadre11"])
    assert client.get(path).status_code == 403


def test_admin_web_pages_are_scoped_too(client, world):
    from tests.factories import login

    orgs, people = world
    login(client, people["county11_admin"])
    listing = client.get("/admin/users?per_page=100").get_data(as_text=True)
    assert "本县学员" in listing and "邻县学员" not in listing
    assert client.get(f"/admin/users/{people['cadre12'].id}").status_code == 404
    assert client.get(f"/admin/orgs/{orgs['county12'].id}/edit").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/99999999999999999999999",
        "/api/v1/orgs/99999999999999999999999",
        "/api/v1/users?org_id=99999999999999999999999",
        "/api/v1/orgs?under=99999999999999999999999",
        "/api/v1/users/0",
    ],
)
def test_ids_beyond_any_row_are_not_found_not_a_crash(client, world, path):
    response = client.get(path, headers=bearer(world[1]["city1_admin"]))
    assert response.status_code == 404 and response.get_json()["message"] == "找不到该内容。"


def test_absurd_page_numbers_and_ids_in_bodies_are_handled(client, world):
    headers = bearer(world[1]["city1_admin"])
    page = client.get("/api/v1/users?page=99999999999999999999&per_page=-5", headers=headers)
    assert page.status_code == 200 and page.get_json()["items"] == []
    created = client.post(
        "/api/v1/users", headers=headers, json={"org_id": 10**30, "login_name": "a1", "name": "某"}
    )
    assert created.status_code == 404
