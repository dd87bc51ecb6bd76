"""Offline training claims (线下学时登记) through HTTP: submission with evidence, review up the org tree
within each level's authority, exactly-once crediting, and scoping of who sees and acts on what."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role
from lms.audit.models import AuditEntry
from lms.core.db import db
from lms.core.errors import ValidationFailed
from lms.learning.models import LedgerEntry
from lms.reviews import claims as claim_services
from lms.reviews import evidence
from lms.reviews.models import ClaimStatus, OfflineClaim
from tests.factories import bearer, csrf_token, grant, login, make_admin, make_user, province_tree

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def tree(db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    return orgs | {
        "cadre": make_user(org=orgs["unit11"], name="张三"),
        "county_admin": make_admin(of=orgs["county11"]),
        "city_admin": make_admin(of=orgs["city1"]),
        "other_county_admin": make_admin(of=orgs["county12"]),
    }


def _fields(**overrides: object) -> dict[str, object]:
    return {
        "title": "党校秋季主体班",
        "organizer": "市委党校",
        "start_date": "2025-09-01",
        "end_date": "2025-09-05",
        "hours": "30",
        "use": "required",
    } | overrides


def _submit(client, user, files=None, **overrides):  # type: ignore[no-untyped-def]
    data = dict(_fields(**overrides))
    data["evidence"] = [(io.BytesIO(body), name) for name, body in (files or [("结业证书.pdf", PDF)])]
    return client.post("/api/v1/claims", data=data, headers=bearer(user), content_type="multipart/form-data")


def _ledger(user) -> list[LedgerEntry]:  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == user.id)))


def _queue_ids(client, admin) -> list[int]:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/claims/review-queue", headers=bearer(admin))
    assert response.status_code == 200
    return [item["id"] for item in response.get_json()["items"]]


def test_a_claim_forwarded_from_county_to_city_and_approved_is_credited_exactly_once(client, tree):
    cadre, county, city = tree["cadre"], tree["county_admin"], tree["city_admin"]
    created = _submit(client, cadre)
    assert created.status_code == 201, created.get_json()
    claim = created.get_json()
    assert claim["status"] == "submitted" and claim["waiting_at"]["id"] == tree["unit11"].id
    assert [e["filename"] for e in claim["evidence"]] == ["结业证书.pdf"]
    claim_id = claim["id"]

    # 30 hours exceed a county admin's 24: they may only reject or forward
    assert _queue_ids(client, county) == [claim_id]
    detail = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(county)).get_json()
    assert detail["actions"] == ["reject", "forward"]
    refused = client.post(f"/api/v1/claims/{claim_id}/approve", json={}, headers=bearer(county))
    assert refused.status_code == 409 and refused.get_json()["error"] == "invalid_state"
    forwarded = client.post(
        f"/api/v1/claims/{claim_id}/forward", json={"reason": "超出县级权限"}, headers=bearer(county)
    )
    assert forwarded.status_code == 200, forwarded.get_json()
    body = forwarded.get_json()
    assert body["status"] == "forwarded" and body["waiting_at"]["id"] == tree["city1"].id
    assert _queue_ids(client, county) == []
    # The county admin still sees their cadre's claim, but can no longer act on it
    assert client.get(f"/api/v1/claims/{claim_id}", headers=bearer(county)).get_json()["actions"] == []
    late = client.post(f"/api/v1/claims/{claim_id}/reject", json={"reason": "x"}, headers=bearer(county))
    assert late.status_code == 409

    assert _queue_ids(client, city) == [claim_id]
    approved = client.post(f"/api/v1/claims/{claim_id}/approve", json={}, headers=bearer(city))
    assert approved.status_code == 200, approved.get_json()
    again = client.post(f"/api/v1/claims/{claim_id}/approve", json={}, headers=bearer(city))
    assert again.status_code == 409

    entries = _ledger(cadre)
    assert [(float(e.hours), e.reference, e.source_kind, e.use, e.year) for e in entries] == [
        (30.0, f"claim:{claim_id}", "offline_claim", "required", 2025)
    ]
    assert entries[0].created_by_id == city.id

    # The cadre is told the outcome, with every step: who, what, from where to where
    mine = client.get("/api/v1/claims", headers=bearer(cadre)).get_json()["items"]
    assert mine[0]["status"] == "approved" and mine[0]["waiting_at"] is None
    assert mine[0]["last_step"]["action"] == "approved" and mine[0]["last_step"]["actor"]["id"] == city.id
    steps = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(cadre)).get_json()["steps"]
    assert [(s["action"], s["actor"]["id"]) for s in steps] == [
        ("submitted", cadre.id),
        ("forwarded", county.id),
        ("approved", city.id),
    ]
    assert steps[1]["to_org"]["id"] == tree["city1"].id and steps[1]["reason"] == "超出县级权限"
    actions = db.session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.target_type == "offline_claim", AuditEntry.target_id == str(claim_id)
        )
    ).all()
    assert sorted(actions) == ["claims.approve", "claims.forward"]


def test_a_county_admin_cannot_see_or_act_on_another_countys_claims(client, tree):
    claim = _submit(client, tree["cadre"]).get_json()
    claim_id, evidence_url = claim["id"], claim["evidence"][0]["url"]
    outsider = bearer(tree["other_county_admin"])
    assert _queue_ids(client, tree["other_county_admin"]) == []
    assert client.get(f"/api/v1/claims/{claim_id}", headers=outsider).status_code == 404
    for action in ("approve", "reject", "forward"):
        response = client.post(f"/api/v1/claims/{claim_id}/{action}", json={"reason": "x"}, headers=outsider)
        assert response.status_code == 404, action
    assert client.get(evidence_url, headers=outsider).status_code == 404
    assert client.get(evidence_url, headers=bearer(make_user(org=tree["unit11"]))).status_code == 404
    # Nothing changed
    assert db.session.get(OfflineClaim, claim_id).status == ClaimStatus.SUBMITTED
    # The cadre and their own admins get the file
    own = client.get(evidence_url, headers=bearer(tree["cadre"]))
    assert own.status_code == 200 and own.data == PDF and own.mimetype == "application/pdf"
    assert client.get(evidence_url, headers=bearer(tree["county_admin"])).status_code == 200


def test_a_rejection_needs_a_reason_and_the_cadre_sees_it(client, tree):
    claim_id = _submit(client, tree["cadre"], hours="6").get_json()["id"]
    unit_admin = make_admin(of=tree["unit11"])
    headers = bearer(unit_admin)
    assert client.post(f"/api/v1/claims/{claim_id}/reject", json={}, headers=headers).status_code == 422
    rejected = client.post(
        f"/api/v1/claims/{claim_id}/reject", json={"reason": "缺少签到表"}, headers=headers
    )
    assert rejected.status_code == 200
    mine = client.get("/api/v1/claims", headers=bearer(tree["cadre"])).get_json()["items"][0]
    assert mine["status"] == "rejected" and mine["decision_reason"] == "缺少签到表"
    assert mine["last_step"]["action"] == "rejected"
    assert _ledger(tree["cadre"]) == []
    # The cadre's own page shows the outcome too
    login(client, tree["cadre"])
    page = client.get("/claims/").get_data(as_text=True)
    assert "缺少签到表" in page


def test_a_unit_admin_approves_within_their_authority_but_not_their_own_claim(client, tree):
    unit_admin = make_admin(of=tree["unit11"])
    small = _submit(client, tree["cadre"], hours="4", use="elective").get_json()["id"]
    assert (
        client.post(f"/api/v1/claims/{small}/approve", json={}, headers=bearer(unit_admin)).status_code == 200
    )
    assert [(float(e.hours), e.use) for e in _ledger(tree["cadre"])] == [(4.0, "elective")]
    own = _submit(client, unit_admin, hours="2").get_json()["id"]
    assert own not in _queue_ids(client, unit_admin)
    assert (
        client.post(f"/api/v1/claims/{own}/approve", json={}, headers=bearer(unit_admin)).status_code == 403
    )


def test_the_ledger_row_is_written_once_even_if_a_stale_approval_slips_through(app, tree):
    """The row lock makes the second of two racing approvals see "approved"; the unique reference is the
    second guard should it ever not."""
    now = datetime(2025, 10, 1, tzinfo=UTC)
    data = claim_services.clean_claim_data(_fields(hours="3"), today=now.date())
    claim = claim_services.submit_claim(actor=tree["cadre"], data=data, uploads=[], store=None, now=now)
    claim_services.approve(actor=tree["county_admin"], claim_id=claim.id, now=now)
    claim.status = ClaimStatus.SUBMITTED  # as a concurrent request that read it before the approval would
    db.session.flush()
    claim_services.approve(actor=tree["county_admin"], claim_id=claim.id, now=now)
    assert len(_ledger(tree["cadre"])) == 1


def test_evidence_must_be_pdf_jpeg_or_png_by_content_and_at_most_20_mb(client, tree):
    fake = _submit(client, tree["cadre"], files=[("certificate.pdf", b"MZ\x90\x00 not a pdf")])
    assert fake.status_code == 422
    assert db.session.scalar(select(func.count(OfflineClaim.id))) == 0
    bad = _submit(client, tree["cadre"], end_date="2025-08-01", hours="0")
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"end_date", "hours"}

    ok = _submit(client, tree["cadre"], files=[("../../etc/照片.jpeg", PNG)])
    assert ok.status_code == 201
    body = ok.get_json()
    assert (
        body["evidence"][0]["filename"] == "照片.png" and body["evidence"][0]["content_type"] == "image/png"
    )
    row = claim_services.evidence_of(db.session.get(OfflineClaim, body["id"]))[0]
    assert row.key.startswith(f"claims/{body['id']}/") and row.key.endswith("/照片.png")

    url = f"/api/v1/claims/{body['id']}/evidence"
    added = client.post(
        url, data={"evidence": [(io.BytesIO(PDF), "补充.pdf")]}, headers=bearer(tree["cadre"])
    )
    assert added.status_code == 201 and added.get_json()["items"][0]["filename"] == "补充.pdf"
    # 20 MB in all per claim (the test client spools big bodies to temporary files it never closes, so the
    # limit is checked on the service that the endpoint calls)
    almost = evidence.MAX_TOTAL_BYTES - len(PDF)
    assert evidence.check_uploads([evidence.Upload("a.pdf", PDF)], already=1, already_bytes=almost)
    with pytest.raises(ValidationFailed):
        evidence.check_uploads([evidence.Upload("a.pdf", PDF + b"x")], already=1, already_bytes=almost)
    # Once someone acted on the claim, the cadre can no longer add files
    client.post(f"/api/v1/claims/{body['id']}/forward", json={}, headers=bearer(tree["county_admin"]))
    late = client.post(url, data={"evidence": [(io.BytesIO(PDF), "c.pdf")]}, headers=bearer(tree["cadre"]))
    assert late.status_code == 409


def test_system_admins_set_each_levels_authority(client, tree):
    claim_id = _submit(client, tree["cadre"]).get_json()["id"]
    assert (
        client.put(
            "/api/v1/claims/authority/county", json={"max_hours": 40}, headers=bearer(tree["city_admin"])
        )
    ).status_code == 403
    root = grant(make_user(org=tree["province"]), Role.SYSTEM_ADMIN)
    changed = client.put("/api/v1/claims/authority/county", json={"max_hours": 40}, headers=bearer(root))
    assert changed.status_code == 200 and changed.get_json() == {"org_kind": "county", "max_hours": 40.0}
    table = client.get("/api/v1/claims/authority", headers=bearer(tree["county_admin"])).get_json()["items"]
    assert {"org_kind": "province", "max_hours": None} in table
    assert {"org_kind": "county", "max_hours": 40.0} in table
    approved = client.post(
        f"/api/v1/claims/{claim_id}/approve", json={}, headers=bearer(tree["county_admin"])
    )
    assert approved.status_code == 200
    assert (
        db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "claims.authority"))
        == 1
    )


def test_the_web_pages_submit_review_and_forward(client, tree):
    login(client, tree["cadre"])
    token = csrf_token(client, "/claims/new")
    response = client.post(
        "/claims/new",
        data=_fields() | {"csrf_token": token, "evidence": [(io.BytesIO(PDF), "通知.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    claim = db.session.scalars(select(OfflineClaim)).one()
    detail = client.get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "党校秋季主体班" in detail and "通知.pdf" in detail
    client.post("/logout", data={"csrf_token": csrf_token(client, "/claims/")})

    login(client, tree["county_admin"])
    queue = client.get("/claims/review").get_data(as_text=True)
    assert f'data-claim="{claim.id}"' in queue and f"/claims/{claim.id}/forward" in queue
    assert f"/claims/{claim.id}/approve" not in queue  # above a county admin's authority
    token = csrf_token(client, "/claims/review")
    done = client.post(f"/claims/{claim.id}/forward", data={"csrf_token": token, "next": "review"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/claims/review")
    db.session.refresh(claim)
    assert claim.current_org_id == tree["city1"].id and claim.status == ClaimStatus.FORWARDED
    client.post("/logout", data={"csrf_token": csrf_token(client, "/claims/")})

    login(client, tree["other_county_admin"])
    assert client.get(f"/claims/{claim.id}").status_code == 404
