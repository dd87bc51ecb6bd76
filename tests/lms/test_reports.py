"""Unit reports: every figure of the API against an independent computation in Python over the fixture's own
objects (the users and ledger rows created here, targets by ``target_for``), scope, revocations, exports."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from lms.accounts.models import CadreCategory, Rank
from lms.catalog.models import Category
from lms.core.db import db
from lms.learning import credits
from lms.learning.models import EntryKind, LedgerEntry, SourceKind, TargetRule
from lms.learning.targets import target_for
from tests.factories import bearer, login, make_admin, make_user, province_tree

CENT = Decimal("0.01")
CHINA = ZoneInfo("Asia/Shanghai")
YEAR = {"from": "2026-01-01", "to": "2026-12-31"}
HALF = {"from": "2026-01-01", "to": "2026-06-30"}
# Periods that the summaries cover only in part: edge days read from the raw ledger (a row on the first
# day, rows just outside the last), a period inside one month, and ones spanning a year's end.
EDGES = {"from": "2026-01-15", "to": "2026-10-09"}
WITHIN_A_MONTH = {"from": "2026-06-05", "to": "2026-06-30"}
ACROSS_YEARS = {"from": "2025-12-01", "to": "2026-12-31"}
LONG = {"from": "2025-12-15", "to": "2027-01-10"}


def at(month: int, day: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, 4, 0, tzinfo=UTC)


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    orgs = province_tree()
    cats = {c.code: c for c in db.session.scalars(select(Category).where(Category.parent_id.is_(None)))}
    sub = Category(name="习近平新时代中国特色社会主义思想（测试）", parent_id=cats["THEORY"].id, position=9)
    db.session.add(sub)
    db.session.flush()
    # A county rule: 乡科级 in county 1-1 need 50 a year, 10 of them 必修.
    db.session.add(
        TargetRule(
            org_id=orgs["county11"].id, rank="section", hours_per_year=Decimal("50"),
            required_hours=Decimal("10"), label="测试县乡科级",
        )
    )  # fmt: skip
    db.session.flush()
    plans = [
        # (org key, rank, category, [(hours, kind, source, category, use, created_at)])
        ("unit11", Rank.SECTION, CadreCategory.CIVIL_SERVANT, [
            ("30", "credit", "online_course", "THEORY", "required", at(2)),
            ("25", "credit", "test", "PARTY_SPIRIT", "elective", at(5)),
        ]),
        ("unit11", Rank.SECTION, CadreCategory.CIVIL_SERVANT, [
            ("8", "credit", "online_course", "sub", "required", at(3)),
            ("50", "credit", "class", "PROFESSIONAL", "elective", at(9)),
        ]),
        ("county11", Rank.DIVISION, CadreCategory.LEADERSHIP, [
            ("100", "credit", "offline_claim", None, "elective", at(4)),
            ("20", "credit", "online_course", "KNOWLEDGE", "required", at(7)),
            ("-5", "correction", "online_course", "KNOWLEDGE", "required", at(8)),
        ]),
        ("unit12", Rank.BELOW_SECTION, CadreCategory.PROFESSIONAL, [
            ("72", "credit", "online_course", "PARTY_SPIRIT", "elective", at(1)),
            ("40", "credit", "online_course", "THEORY", "elective", at(12, 20, 2025)),  # last year
        ]),
        ("unit12", Rank.BELOW_SECTION, CadreCategory.CIVIL_SERVANT, []),
        ("unit21", Rank.GENERAL, None, [
            ("45.5", "credit", "online_course", "THEORY", "required", at(6)),
            ("44.5", "credit", "class", "PARTY_SPIRIT", "required", at(6, 20)),
            ("2", "credit", "test", None, "elective", at(10, 9)),  # the last day of EDGES
        ]),
        ("unit22", Rank.BELOW_SECTION, CadreCategory.CIVIL_SERVANT, [
            ("12.25", "credit", "offline_claim", "KNOWLEDGE", "elective", at(10)),
            # 1 July 01:00 in China: July's, not June's
            ("3.5", "credit", "online_course", "THEORY", "elective", datetime(2026, 6, 30, 17, tzinfo=UTC)),
        ]),
        ("city2", Rank.DIVISION, CadreCategory.CIVIL_SERVANT, [
            ("60", "credit", "online_course", "PARTY_SPIRIT", "required", at(1, 15)),
            ("60", "credit", "online_course", "THEORY", "elective", at(11, 5)),
        ]),
    ]  # fmt: skip
    users, rows = [], []
    for n, (key, rank, category, entries) in enumerate(plans):
        user = make_user(org=orgs[key], rank=rank, category=category, name=f"干部{n}")
        users.append(user)
        for i, (hours, kind, source, cat, use, created) in enumerate(entries):
            category_id = sub.id if cat == "sub" else cats[cat].id if cat else None
            row = LedgerEntry(
                user_id=user.id, org_id=user.org_id, year=created.year, hours=Decimal(hours), kind=kind,
                source_kind=source, category_id=category_id, use=use, title=f"课程{i}",
                reference=f"t:{n}:{i}", created_at=created,
            )  # fmt: skip
            db.session.add(row)
            rows.append(row)
    # Not cadres: an inactive account and a non-learner (an admin) with hours.
    gone = make_user(org=orgs["unit11"], active=False)
    db.session.add(
        LedgerEntry(
            user_id=gone.id, org_id=gone.org_id, year=2026, hours=Decimal("99"), kind="credit",
            source_kind="online_course", use="required", reference="gone", created_at=at(3),
        )
    )  # fmt: skip
    admin = make_admin(of=orgs["province"])
    admin.is_learner = False
    db.session.flush()
    top = {c.id: code for code, c in cats.items()} | {sub.id: "THEORY"}
    return {"orgs": orgs, "users": users, "rows": rows, "top": top, "admin": admin}


# The independent computation -----------------------------------------------------------------------------

KEYS = {"THEORY": "theory", "PARTY_SPIRIT": "party", "PROFESSIONAL": "professional", "KNOWLEDGE": "knowledge"}


def expected(world, org, start: date, end: date):  # type: ignore[no-untyped-def]
    """Figures for ``org``'s subtree by looping over the fixture's users and rows."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() - 8 * 3600
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() + 16 * 3600
    full = start == date(start.year, 1, 1) and end == date(start.year, 12, 31)
    factor = Decimal(1) if full else Decimal((end - start).days + 1) / Decimal(365)
    people = {}
    for user in world["users"]:
        if not user.org.path.startswith(org.path):
            continue
        mine = [r for r in world["rows"] if r.user_id == user.id and lo <= r.created_at.timestamp() < hi]
        target = target_for(user)
        p = {
            "user": user,
            "hours": sum((r.hours for r in mine), Decimal(0)),
            "required": sum((r.hours for r in mine if r.use == "required"), Decimal(0)),
            "online": sum((r.hours for r in mine if r.source_kind in ("online_course", "test")), Decimal(0)),
            "offline": sum(
                (r.hours for r in mine if r.source_kind in ("class", "offline_claim")), Decimal(0)
            ),
            "cat": defaultdict(Decimal),
            "target": (target.hours * factor).quantize(CENT, ROUND_HALF_UP),
            "required_target": (target.required_hours * factor).quantize(CENT, ROUND_HALF_UP),
        }
        for r in mine:
            p["cat"][KEYS[world["top"][r.category_id]] if r.category_id else "other"] += r.hours
        p["reached"] = p["hours"] >= p["target"] and p["required"] >= p["required_target"]
        p["missing"] = max(Decimal(0), p["target"] - p["hours"], p["required_target"] - p["required"])
        people[user.id] = p
    return people


def summarize(people: dict) -> dict:  # type: ignore[type-arg]
    ps = list(people.values())
    n = len(ps)
    hours = sum((p["hours"] for p in ps), Decimal(0))
    theory_party = sum((p["cat"]["theory"] + p["cat"]["party"] for p in ps), Decimal(0))
    return {
        "cadres": n,
        "participants": sum(1 for p in ps if p["hours"] > 0),
        "online_participants": sum(1 for p in ps if p["online"] > 0),
        "reached": sum(1 for p in ps if p["reached"]),
        "reach_rate": round(sum(1 for p in ps if p["reached"]) / n, 4) if n else None,
        "online_rate": round(sum(1 for p in ps if p["online"] > 0) / n, 4) if n else None,
        "hours": float(hours),
        "hours_per_cadre": float((hours / n).quantize(CENT, ROUND_HALF_UP)) if n else None,
        "required": float(sum((p["required"] for p in ps), Decimal(0))),
        "elective": float(sum((p["hours"] - p["required"] for p in ps), Decimal(0))),
        "online": float(sum((p["online"] for p in ps), Decimal(0))),
        "offline": float(sum((p["offline"] for p in ps), Decimal(0))),
        "behind_hours": float(
            sum(
                (p["target"] - p["hours"] for p in ps if not p["reached"] and p["target"] > p["hours"]),
                Decimal(0),
            )
        ),
        "by_category": {
            k: float(sum((p["cat"][k] for p in ps), Decimal(0)))
            for k in ("theory", "party", "professional", "knowledge", "other")
        },
        "theory_party_share": round(float(theory_party) / float(hours), 4) if hours > 0 else None,
    }


def check(figures: dict, want: dict) -> None:  # type: ignore[type-arg]
    for key, value in want.items():
        assert figures[key] == pytest.approx(value) if isinstance(value, float) else figures[key] == value, (
            key
        )


def get_units(client, admin, org, period):  # type: ignore[no-untyped-def]
    response = client.get(
        "/api/v1/reports/units", query_string={"org_id": org.id} | period, headers=bearer(admin)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# Tests -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [YEAR, HALF, EDGES, WITHIN_A_MONTH, ACROSS_YEARS, LONG])
def test_units_report_matches_an_independent_computation(client, world, period) -> None:  # type: ignore[no-untyped-def]
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    admin = world["admin"]
    for key, children in (("province", ("city1", "city2")), ("city1", ("county11", "county12"))):
        org = world["orgs"][key]
        data = get_units(client, admin, org, period)
        check(data["total"], summarize(expected(world, org, start, end)))
        rows = {row["org"]["id"]: row for row in data["units"] if not row["own"]}
        assert set(rows) == {world["orgs"][c].id for c in children}
        for child in children:
            check(rows[world["orgs"][child].id], summarize(expected(world, world["orgs"][child], start, end)))
        # Ranked among siblings by hours per cadre.
        ranked = sorted(rows.values(), key=lambda r: -(r["hours_per_cadre"] or 0))
        assert [r["place"] for r in ranked] == list(range(1, len(ranked) + 1))
    # city2 has a cadre of its own: its own row, not counted in a child.
    data = get_units(client, admin, world["orgs"]["city2"], period)
    own = [row for row in data["units"] if row["own"]]
    direct = {
        u.id: p
        for u, p in ((w["user"], w) for w in expected(world, world["orgs"]["city2"], start, end).values())
        if u.org_id == world["orgs"]["city2"].id
    }
    assert len(own) == 1 and own[0]["cadres"] == len(direct) == 1
    check(own[0], summarize(direct))
    # By rank, for the whole province.
    everyone = expected(world, world["orgs"]["province"], start, end)
    data = get_units(client, admin, world["orgs"]["province"], period)
    for rank in {str(p["user"].rank) for p in everyone.values()}:
        check(
            data["by_rank"][rank],
            summarize({k: p for k, p in everyone.items() if str(p["user"].rank) == rank}),
        )
    # Months: the period's net hours by month (Asia/Shanghai), each month cut to the period.
    months = defaultdict(float)
    for p in everyone.values():
        for r in world["rows"]:
            local = r.created_at.astimezone(CHINA)
            if r.user_id == p["user"].id and start <= local.date() <= end:
                months[local.strftime("%Y-%m")] += float(r.hours)
    got = {m["month"]: m["hours"] for m in data["months"]}
    assert len(got) == (end.year - start.year) * 12 + end.month - start.month + 1
    for month, hours in got.items():
        assert hours == pytest.approx(months.get(month, 0.0)), month


def test_the_targets_are_the_rules_and_the_behind_list_says_how_far(client, world) -> None:  # type: ignore[no-untyped-def]
    admin, province = world["admin"], world["orgs"]["province"]
    people = expected(world, province, date(2026, 1, 1), date(2026, 12, 31))
    response = client.get(
        f"/api/v1/reports/units/{province.id}/cadres",
        query_string=YEAR | {"per_page": 100},
        headers=bearer(admin),
    )
    items = {i["user_id"]: i for i in response.get_json()["items"]}
    assert set(items) == set(people)
    for uid, p in people.items():
        item = items[uid]
        assert item["target"] == float(p["target"]) and item["required_target"] == float(p["required_target"])
        assert item["hours"] == float(p["hours"]) and item["reached"] is p["reached"]
        assert item["missing"] == float(p["missing"])
    # The county's 乡科级 rule (50, 10 必修) applies in its subtree only.
    assert {i["target"] for i in items.values() if i["rank"] == "section"} == {50.0}
    behind = client.get(
        f"/api/v1/reports/units/{province.id}/cadres",
        query_string=YEAR | {"behind": 1},
        headers=bearer(admin),
    ).get_json()
    want = sorted(
        (p for p in people.values() if not p["reached"]), key=lambda p: (-p["missing"], p["user"].id)
    )
    assert [i["user_id"] for i in behind["items"]] == [p["user"].id for p in want]
    assert behind["total"] == len(want) > 0


def test_a_county_admin_sees_only_their_county(client, world) -> None:  # type: ignore[no-untyped-def]
    orgs = world["orgs"]
    county_admin = make_admin(of=orgs["county11"])
    county_admin.is_learner = False
    db.session.flush()
    headers = bearer(county_admin)
    other_user = next(u for u in world["users"] if u.org_id == orgs["unit12"].id)
    for path in (
        f"/api/v1/reports/units?org_id={orgs['county12'].id}",
        f"/api/v1/reports/units?org_id={orgs['city1'].id}",
        f"/api/v1/reports/units/{orgs['county12'].id}/cadres",
        f"/api/v1/reports/units/{orgs['unit12'].id}/leaderboard",
        f"/api/v1/reports/cadres/{other_user.id}",
        "/api/v1/reports/units?org_id=999999",
    ):
        assert client.get(path, headers=headers).status_code == 404, path
    response = client.post(
        "/api/v1/reports/exports", json={"report": "cadres", "org_id": orgs["county12"].id}, headers=headers
    )
    assert response.status_code == 404
    # Their own county, by default.
    data = client.get("/api/v1/reports/units", query_string=YEAR, headers=headers).get_json()
    assert data["org"]["id"] == orgs["county11"].id and data["total"]["cadres"] == 3
    # A cadre who is no admin sees nothing at all.
    learner = world["users"][0]
    assert client.get("/api/v1/reports/units", headers=bearer(learner)).status_code == 404
    # The pages too.
    login(client, county_admin)
    for path in (
        f"/reports/?org_id={orgs['county12'].id}",
        f"/reports/units/{orgs['county12'].id}/cadres",
        f"/reports/units/{orgs['county12'].id}/units.xlsx",
        f"/reports/cadres/{other_user.id}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/reports/").status_code == 200


def test_a_revocation_lowers_the_cadres_totals_and_the_report(client, world) -> None:  # type: ignore[no-untyped-def]
    admin, unit = world["admin"], world["orgs"]["unit11"]
    cadre = world["users"][1]  # 8 (required) + 50 (class) = 58 >= 50, and 必修 8 < 10: behind
    before = get_units(client, admin, unit, YEAR)["total"]
    credit = next(r for r in world["rows"] if r.user_id == cadre.id and r.source_kind == SourceKind.CLASS)
    revocation = credits.revoke_entry(
        actor=admin, entry=credit, owner=cadre, reason="代学", now=datetime(2026, 10, 1, tzinfo=UTC)
    )
    world["rows"].append(revocation)
    assert revocation.kind == EntryKind.REVOCATION
    after = get_units(client, admin, unit, YEAR)["total"]
    assert after["hours"] == before["hours"] - 50
    assert after["offline"] == before["offline"] - 50
    assert after["by_category"]["professional"] == before["by_category"]["professional"] - 50
    check(after, summarize(expected(world, unit, date(2026, 1, 1), date(2026, 12, 31))))
    one = client.get(
        f"/api/v1/reports/cadres/{cadre.id}", query_string=YEAR, headers=bearer(admin)
    ).get_json()
    assert one["figures"]["hours"] == 8.0 and one["figures"]["missing"] == 42.0
    assert one["entries"][0]["kind"] == "revocation"


def test_leaderboard_and_pages(client, world) -> None:  # type: ignore[no-untyped-def]
    admin, province = world["admin"], world["orgs"]["province"]
    board = client.get(
        f"/api/v1/reports/units/{province.id}/leaderboard", query_string=YEAR, headers=bearer(admin)
    ).get_json()
    people = expected(world, province, date(2026, 1, 1), date(2026, 12, 31))
    want = sorted((p for p in people.values() if p["hours"] > 0), key=lambda p: (-p["hours"], p["user"].id))
    assert [i["user_id"] for i in board["items"]] == [p["user"].id for p in want]
    assert board["items"][0]["place"] == 1
    login(client, admin)
    for path in (
        f"/reports/?org_id={province.id}&from=2026-01-01&to=2026-12-31",
        f"/reports/?org_id={world['orgs']['city1'].id}",
        f"/reports/units/{world['orgs']['unit11'].id}/cadres?behind=1",
        f"/reports/units/{province.id}/leaderboard",
        f"/reports/cadres/{world['users'][0].id}",
        "/reports/exports",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<script>" not in response.get_data(as_text=True)
    page = client.get(f"/reports/?org_id={province.id}&from=2026-01-01&to=2026-12-31").get_data(as_text=True)
    assert world["orgs"]["city1"].name in page and 'type="application/json"' in page
    xlsx = client.get(f"/reports/units/{province.id}/units.xlsx?from=2026-01-01&to=2026-12-31")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert sheet.max_row == 1 + 2 + 1  # heading, two cities, the total
    assert client.get("/reports/?from=2026-13-01").status_code in (400, 422)


def test_an_export_runs_as_a_job_with_progress_and_a_download(client, world) -> None:  # type: ignore[no-untyped-def]
    admin, province = world["admin"], world["orgs"]["province"]
    headers = bearer(admin)
    response = client.post(
        "/api/v1/reports/exports", json={"report": "cadres", "org_id": province.id} | YEAR, headers=headers
    )
    assert response.status_code == 202
    job = response.get_json()
    state = client.get(f"/api/v1/reports/exports/{job['id']}", headers=headers).get_json()
    assert state["status"] == "done" and state["progress"] == 100 and state["rows"] == len(world["users"])
    listed = client.get("/api/v1/reports/exports", headers=headers).get_json()["items"]
    assert listed[0]["id"] == job["id"]
    download = client.get(state["download_url"], headers=headers)
    assert download.status_code == 200
    rows = list(
        load_workbook(io.BytesIO(download.data), read_only=True).worksheets[0].iter_rows(values_only=True)
    )
    assert len(rows) == 1 + len(world["users"])
    names = {r[1]: r for r in rows[1:]}
    people = expected(world, province, date(2026, 1, 1), date(2026, 12, 31))
    for p in people.values():
        assert names[p["user"].display_name][5] == float(p["hours"])
    # Another admin cannot read it.
    other = make_admin(of=world["orgs"]["province"])
    assert client.get(f"/api/v1/reports/exports/{job['id']}", headers=bearer(other)).status_code == 404
    assert client.get(state["download_url"], headers=bearer(other)).status_code == 404
    bad = client.post(
        "/api/v1/reports/exports", json={"report": "nope", "org_id": province.id}, headers=headers
    )
    assert bad.status_code == 422


def test_old_exports_are_swept_and_jobs_whose_worker_died_fail(client, world) -> None:  # type: ignore[no-untyped-def]
    from lms.media.storage import get_storage
    from lms.reports import tasks

    admin, province = world["admin"], world["orgs"]["province"]
    headers = bearer(admin)
    done = client.post(
        "/api/v1/reports/exports", json={"report": "units", "org_id": province.id} | YEAR, headers=headers
    ).get_json()
    store = get_storage()
    stuck = {"id": "stuck0000000000000000000", "report": "cadres", "org_id": province.id, "status": "running",
             "progress": 40, "rows": 0, "created_at": "2026-11-01T00:00:00+00:00"}  # fmt: skip
    tasks._save(store, admin.id, stuck)
    now = datetime.now(UTC)
    tasks.sweep_exports(store, now + timedelta(hours=7))
    states = {j["id"]: j for j in client.get("/api/v1/reports/exports", headers=headers).get_json()["items"]}
    assert states[stuck["id"]]["status"] == "failed" and states[done["id"]]["status"] == "done"
    assert client.get(states[done["id"]]["download_url"], headers=headers).status_code == 200
    swept = tasks.sweep_exports(store, now + timedelta(days=8))
    assert swept["deleted"] >= 3  # the workbook and both states
    assert client.get("/api/v1/reports/exports", headers=headers).get_json()["items"] == []
    assert client.get(f"/api/v1/reports/exports/{done['id']}", headers=headers).status_code == 404
