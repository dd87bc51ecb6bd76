"""The ledger summaries behind the reports (``ledger_month_totals``, ``ledger_year_totals``) follow every
way a ledger row is written — a course completed, an admin's correction and revocation, an approved
offline claim, a passed test, a plain ORM or Core insert, even a deleted row — and equal what the ledger
rows themselves add up to (summed here in Python); ``flask reports check-summary`` finds drift and
``flask reports rebuild-summary`` repairs it."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, insert, select, text, update

from lms.catalog import services as catalog
from lms.catalog.models import Category
from lms.catalog.queries import active_lessons
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.learning import credits
from lms.learning.models import LedgerEntry, LessonProgress
from lms.media.models import AssetKind, AssetStatus, MediaAsset
from lms.reports.models import SUMMARY_COLUMNS, LedgerMonthTotal, LedgerYearTotal
from lms.reports.summary import check_summary
from tests.factories import bearer, make_admin, make_teacher, make_user, province_tree

CHINA = ZoneInfo("Asia/Shanghai")
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
TOPS = {"THEORY": "theory", "PARTY_SPIRIT": "party", "PROFESSIONAL": "professional", "KNOWLEDGE": "knowledge"}


def _top_keys() -> dict[int, str]:
    rows = db.session.execute(select(Category.id, Category.parent_id, Category.code)).all()
    parent = {cid: pid for cid, pid, _ in rows}
    code = {cid: c for cid, _, c in rows}
    keys = {}
    for cid in parent:
        top = cid
        while parent[top] is not None:
            top = parent[top]
        keys[cid] = TOPS.get(code[top] or "", "other")
    return keys


def ledger_sums(user_id: int) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    """(by month, by year) of the user's ledger rows, in centi-hours, added up one row at a time."""
    tops = _top_keys()
    months: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    years: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in db.session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == user_id)):
        local = row.created_at.astimezone(CHINA)
        cents = int(Decimal(row.hours) * 100)
        amounts = {
            "entries": 1,
            "total": cents,
            "required": cents if row.use == "required" else 0,
            f"src_{row.source_kind}": cents,
            f"cat_{tops[row.category_id] if row.category_id else 'other'}": cents,
        }
        for bucket in (months[local.year * 100 + local.month], years[local.year]):
            for key, value in amounts.items():
                bucket[key] += value
    return months, years


def stored(user_id: int) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    def columns(row: LedgerMonthTotal | LedgerYearTotal) -> dict[str, int]:
        values = {c: getattr(row, c) for c in ("entries", *SUMMARY_COLUMNS)}
        return {k: v for k, v in values.items() if v}

    months = db.session.scalars(select(LedgerMonthTotal).where(LedgerMonthTotal.user_id == user_id))
    years = db.session.scalars(select(LedgerYearTotal).where(LedgerYearTotal.user_id == user_id))
    return {m.month: columns(m) for m in months}, {y.year: columns(y) for y in years}


def expected(user_id: int) -> tuple[dict[int, dict[str, int]], dict[int, dict[str, int]]]:
    months, years = ledger_sums(user_id)
    return (
        {k: {c: v for c, v in sums.items() if v} for k, sums in months.items()},
        {k: {c: v for c, v in sums.items() if v} for k, sums in years.items()},
    )


@pytest.fixture
def course(app):  # type: ignore[no-untyped-def]
    """A published 1.5 学时 course in a subcategory of 理论教育, with two ready video lessons."""
    orgs = province_tree()
    teacher = make_teacher(org=orgs["province"])
    theory = db.session.scalar(select(Category).where(Category.code == "THEORY"))
    sub = Category(name="汇总测试子类", parent_id=theory.id, position=9)
    db.session.add(sub)
    db.session.flush()
    assets = []
    for n in (1, 2):
        asset = MediaAsset(
            owner_id=teacher.id, org_id=orgs["province"].id, kind=AssetKind.VIDEO, title=f"第{n}讲",
            status=AssetStatus.READY, source_key=f"uploads/s/{n}", duration_s=60.0,
            playlist_key=f"media/s{n}/master.m3u8", output_prefix=f"media/s{n}/",
        )  # fmt: skip
        db.session.add(asset)
        db.session.flush()
        assets.append(asset)
    data = clean_course_data(
        {
            "title": "汇总测试课程",
            "hours": "1.5",
            "category_id": sub.id,
            "lessons": [{"title": a.title, "media_asset_id": a.id} for a in assets],
        }
    )
    created = catalog.create_course(actor=teacher, org=orgs["province"], data=data)
    catalog.submit_for_review(actor=teacher, course=created)
    catalog.approve(actor=make_admin(of=orgs["province"]), course=created)
    return {"course": created, "orgs": orgs, "teacher": teacher}


def _complete(app, user, course, now):  # type: ignore[no-untyped-def]
    for lesson in active_lessons(course.id):
        db.session.add(
            LessonProgress(
                user_id=user.id, lesson_id=lesson.id, course_id=course.id, covered=[[0.0, 60.0]],
                covered_s=60.0, percent=100, completed_at=now,
            )
        )  # fmt: skip
    db.session.flush()
    return credits.maybe_complete_course(
        user=user, course=course, now=now, settings=app.extensions["lms.settings"]
    )


def _pass_a_test(client, teacher, cadre) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(teacher)
    bank = client.post("/api/v1/question-banks", json={"name": "汇总题库"}, headers=headers).get_json()
    question = client.post(
        f"/api/v1/question-banks/{bank['bank']['id']}/questions",
        json={
            "content": {"type": "true_false", "stem": "党员有权参加党的有关会议。", "correct": True},
            "category": "党章",
        },
        headers=headers,
    ).get_json()["question"]
    exam = client.post(
        "/api/v1/exams",
        json={
            "title": "汇总测试考试",
            "bank_ids": [bank["bank"]["id"]],
            "structure": [{"kind": "fixed", "question_id": question["id"], "marks": 10}],
            "pass_percent": 60,
            "credit_hours": "2.25",
        },
        headers=headers,
    ).get_json()["exam"]
    assert client.post(f"/api/v1/exams/{exam['id']}/publish", headers=headers).status_code == 200
    attempt = client.post(f"/api/v1/exams/{exam['id']}/attempts", headers=bearer(cadre)).get_json()
    token = {"X-Attempt-Token": attempt["device_token"]}
    position = attempt["items"][0]["position"]
    saved = client.put(
        f"/api/v1/attempts/{attempt['id']}/answers/{position}",
        json={"answer": {"value": True}},
        headers=bearer(cadre) | token,
    )
    assert saved.status_code == 200, saved.get_json()
    done = client.post(f"/api/v1/attempts/{attempt['id']}/submit", headers=bearer(cadre) | token)
    assert done.get_json()["passed"] is True


def _approve_a_claim(client, cadre, admin) -> None:  # type: ignore[no-untyped-def]
    submitted = client.post(
        "/api/v1/claims",
        data={
            "title": "党校秋季主体班", "organizer": "市委党校", "start_date": "2026-09-01",
            "end_date": "2026-09-05", "hours": "12.5", "use": "required",
            "evidence": [(io.BytesIO(PDF), "结业证书.pdf")],
        },
        headers=bearer(cadre),
        content_type="multipart/form-data",
    )  # fmt: skip
    assert submitted.status_code == 201, submitted.get_json()
    approved = client.post(
        f"/api/v1/claims/{submitted.get_json()['id']}/approve", json={}, headers=bearer(admin)
    )
    assert approved.status_code == 200, approved.get_json()


def test_every_ledger_write_keeps_the_summaries_equal_to_the_ledger(app, client, course) -> None:  # type: ignore[no-untyped-def]
    orgs = course["orgs"]
    cadre = make_user(org=orgs["unit11"])
    other = make_user(org=orgs["unit12"])
    admin = make_admin(of=orgs["county11"])
    # A course completed on 31 January at 23:30 in China (15:30 UTC): January's, not February's
    assert _complete(app, cadre, course["course"], datetime(2026, 1, 31, 15, 30, tzinfo=UTC))
    credit = db.session.scalar(select(LedgerEntry).where(LedgerEntry.user_id == cadre.id))
    # An admin corrects it, then revokes what is left (both now, through the API)
    corrected = client.post(
        f"/api/v1/ledger/{credit.id}/corrections", json={"hours": "-0.5", "reason": "重复观看"},
        headers=bearer(admin),
    )  # fmt: skip
    assert corrected.status_code == 201, corrected.get_json()
    revoked = client.post(
        f"/api/v1/ledger/{credit.id}/revoke", json={"reason": "代学"}, headers=bearer(admin)
    )
    assert revoked.status_code == 201, revoked.get_json()
    # An offline claim approved; a test passed (in the course's org, which the cadre may take)
    _approve_a_claim(client, cadre, admin)
    _pass_a_test(client, course["teacher"], cadre)
    # Rows written straight to the table: ORM, Core, and on 1 February 00:30 in China
    db.session.add(
        LedgerEntry(
            user_id=cadre.id, org_id=cadre.org_id, year=2025, hours=Decimal("3.33"), kind="credit",
            source_kind="class", use="elective", reference="orm",
            created_at=datetime(2025, 12, 31, 3, tzinfo=UTC),
        )
    )  # fmt: skip
    db.session.execute(
        insert(LedgerEntry).values(
            user_id=cadre.id, org_id=cadre.org_id, year=2026, hours=Decimal("0.01"), kind="credit",
            source_kind="online_course", use="required", reference="core",
            created_at=datetime(2026, 1, 31, 16, 30, tzinfo=UTC),
        )
    )  # fmt: skip
    db.session.execute(
        insert(LedgerEntry).values(
            user_id=other.id, org_id=other.org_id, year=2026, hours=Decimal("7"), kind="credit",
            source_kind="online_course", use="required", reference="gone",
            created_at=datetime(2026, 3, 3, tzinfo=UTC),
        )
    )  # fmt: skip
    db.session.flush()
    kinds = {(e.source_kind, e.kind) for e in db.session.scalars(select(LedgerEntry))}
    assert {
        ("online_course", "credit"), ("online_course", "correction"), ("online_course", "revocation"),
        ("offline_claim", "credit"), ("test", "credit"), ("class", "credit"),
    } <= kinds  # fmt: skip

    months, years = stored(cadre.id)
    assert (months, years) == expected(cadre.id)
    # January: the course (a subcategory of 理论教育); February: the Core row; the rest in their months
    assert credit.use == "elective"
    assert months[202601] == {"entries": 1, "total": 150, "src_online_course": 150, "cat_theory": 150}
    assert months[202602] == {"entries": 1, "total": 1, "required": 1, "src_online_course": 1, "cat_other": 1}
    assert sum(m["total"] for m in months.values()) == 150 - 50 - 100 + 1250 + 225 + 333 + 1
    assert sum(y["total"] for y in years.values()) == sum(m["total"] for m in months.values())
    # A row deleted (not something the platform does) comes out again; a month left empty goes
    db.session.execute(delete(LedgerEntry).where(LedgerEntry.reference == "gone"))
    assert stored(other.id) == ({}, {})
    assert all(drift.ok for drift in check_summary())


def test_the_sums_add_up_under_one_cadre_month(app, client, course) -> None:  # type: ignore[no-untyped-def]
    cadre = make_user(org=course["orgs"]["unit11"])
    for n, hours in enumerate(("1.25", "2.5", "-0.75")):
        db.session.add(
            LedgerEntry(
                user_id=cadre.id, org_id=cadre.org_id, year=2026, hours=Decimal(hours), kind="credit",
                source_kind="test", use="elective", reference=f"r{n}",
                created_at=datetime(2026, 5, n + 1, tzinfo=UTC),
            )
        )  # fmt: skip
        db.session.flush()
    row = db.session.get(LedgerMonthTotal, (cadre.id, 202605))
    assert (row.entries, row.total, row.src_test, row.cat_other, row.required) == (3, 300, 300, 300, 0)


def test_check_summary_finds_drift_and_rebuild_repairs_it(app, client, course) -> None:  # type: ignore[no-untyped-def]
    cadre = make_user(org=course["orgs"]["unit11"])
    assert _complete(app, cadre, course["course"], datetime(2026, 4, 2, tzinfo=UTC))
    runner = app.test_cli_runner()
    fine = runner.invoke(args=["reports", "check-summary"])
    assert fine.exit_code == 0 and "一致" in fine.output
    db.session.execute(update(LedgerMonthTotal).values(total=LedgerMonthTotal.total + 1))
    db.session.execute(text("DELETE FROM ledger_year_totals"))
    drifted = runner.invoke(args=["reports", "check-summary"])
    assert drifted.exit_code == 1 and "不一致" in drifted.output
    assert not any(d.ok for d in check_summary())
    rebuilt = runner.invoke(args=["reports", "rebuild-summary"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert all(d.ok for d in check_summary())
    assert stored(cadre.id) == expected(cadre.id)
    assert db.session.get(LedgerYearTotal, (cadre.id, 2026)).total == 150
