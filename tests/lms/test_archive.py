"""The training archive (培训档案): the page by year with totals, the .xlsx, the PDF, and who may see it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from lms.archive import pdf as archive_pdf
from lms.archive.archive import build_archive, certificate_number, exam_certificate_number
from lms.core.db import db
from lms.exams.models import Attempt, AttemptStatus, Exam, ExamStatus
from lms.learning.models import EntryKind, LedgerEntry, SourceKind
from tests.factories import login, make_admin, make_user, province_tree

NAME = "王建国"


def _entry(
    user,
    year,
    hours,
    title,
    *,
    kind=EntryKind.CREDIT,
    use="elective",
    corrects=None,
    reason="",
    source=SourceKind.ONLINE_COURSE,
):  # type: ignore[no-untyped-def]
    row = LedgerEntry(
        user_id=user.id,
        org_id=user.org_id,
        year=year,
        hours=Decimal(hours),
        kind=kind,
        source_kind=source,
        use=use,
        title=title,
        reference=f"{kind}:{title}:{hours}:{year}",
        reason=reason,
        corrects_id=corrects.id if corrects else None,
        created_at=datetime(year, 5, 10, 2, 0, tzinfo=UTC),
    )
    db.session.add(row)
    db.session.flush()
    return row


def _attempt(user, owner, title, score, passed, when):  # type: ignore[no-untyped-def]
    exam = Exam(
        title=title, org_id=user.org_id, owner_id=owner.id, status=ExamStatus.PUBLISHED, max_attempts=2
    )
    db.session.add(exam)
    db.session.flush()
    attempt = Attempt(
        exam_id=exam.id,
        user_id=user.id,
        number=1,
        status=AttemptStatus.GRADED,
        started_at=when,
        submitted_at=when,
        paper=[],
        score=Decimal(score),
        max_score=Decimal("100"),
        passed=passed,
        device_token="t",
    )
    db.session.add(attempt)
    db.session.flush()
    return exam, attempt


@pytest.fixture
def cadre(app):  # type: ignore[no-untyped-def]
    """A cadre with credits in 2024 and 2025 (one revoked, one corrected), a passed test (2025) and a
    failed one (2024). 2025: 1.5 + 0.5 + 1 − 1 = 2 hours (required 2); 2024: 2 hours."""
    orgs = province_tree()
    user = make_user(org=orgs["unit11"], name=NAME)
    admin = make_admin(of=orgs["county11"])
    _entry(user, 2024, "2", "新时代党的建设")
    party = _entry(user, 2025, "1.5", "党章党规党纪专题", use="required")
    _entry(
        user,
        2025,
        "0.5",
        "党章党规党纪专题",
        kind=EntryKind.CORRECTION,
        use="required",
        corrects=party,
        reason="补录线下讨论",
    )
    ethics = _entry(user, 2025, "1", "廉政教育")
    _entry(
        user, 2025, "-1", "廉政教育", kind=EntryKind.REVOCATION, corrects=ethics, reason="重复计入，予以撤销"
    )
    passed = _attempt(user, admin, "党章知识测试", "85", True, datetime(2025, 6, 1, 3, tzinfo=UTC))
    failed = _attempt(user, admin, "党史知识测试", "40", False, datetime(2024, 11, 2, 3, tzinfo=UTC))
    return {"orgs": orgs, "user": user, "admin": admin, "party": party, "ethics": ethics, "passed": passed,
            "failed": failed}  # fmt: skip


def test_the_archive_is_built_by_year_with_totals_and_certificates(cadre):  # type: ignore[no-untyped-def]
    user = cadre["user"]
    archive = build_archive(user, now=datetime(2026, 1, 5, tzinfo=UTC))
    assert [y.year for y in archive.years] == [2025, 2024]
    this, last = archive.years
    assert (this.total, this.required, this.elective) == (Decimal("2"), Decimal("2"), Decimal("0"))
    assert this.by_source == {"online_course": Decimal("2")}
    assert [e.kind for e in this.entries] == ["credit", "correction", "credit", "revocation"]
    assert [e.revoked for e in this.entries] == [False, False, True, False]
    assert last.total == Decimal("2") and archive.total == Decimal("4")
    assert [(a.exam_title, a.passed) for a in this.attempts] == [("党章知识测试", True)]
    assert [(a.exam_title, a.passed) for a in last.attempts] == [("党史知识测试", False)]
    # Certificates: courses still credited and the passed test (not the revoked course nor the failed one).
    exam = cadre["passed"][0]
    assert [c.number for c in this.certificates] == [
        certificate_number(2025, user.id, cadre["party"].id),
        exam_certificate_number(2025, user.id, exam.id),
    ]
    assert this.certificates[0].number == f"2025-{user.id:06d}-{cadre['party'].id:06d}"
    assert [c.title for c in last.certificates] == ["新时代党的建设"]


def test_the_cadre_sees_their_archive_by_year(client, cadre):  # type: ignore[no-untyped-def]
    login(client, cadre["user"])
    page = client.get("/archive/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    years = re.findall(r'data-year="(\d+)"', html)
    assert years == ["2025", "2024"]
    this_year = html[html.index('data-year="2025"') : html.index('data-year="2024"')]
    assert re.search(r"data-required>2<", this_year) and re.search(r"data-elective>0<", this_year)
    assert "重复计入，予以撤销" in this_year and "补录线下讨论" in this_year and "is-revoked" in this_year
    assert "党章知识测试" in this_year and "85 / 100" in this_year
    assert "党史知识测试" in html[html.index('data-year="2024"') :]
    assert re.search(r"data-total>4<", html)
    assert f"2025-{cadre['user'].id:06d}-{cadre['party'].id:06d}" in html
    assert "css/archive.css" in html and 'style="' not in html


def test_the_xlsx_has_every_row_and_the_totals(client, cadre):  # type: ignore[no-untyped-def]
    login(client, cadre["user"])
    response = client.get("/archive/archive.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    totals, categories, entries, tests, certificates = (book[name] for name in book.sheetnames)
    rows = list(totals.iter_rows(min_row=2, values_only=True))
    assert [r[:4] for r in rows[:2]] == [(2025, 2.0, 2.0, 0.0), (2024, 2.0, 0.0, 2.0)]
    assert rows[2][1] == 4.0
    ledger = list(entries.iter_rows(min_row=2, values_only=True))
    assert len(ledger) == 5 and sum(r[7] for r in ledger) == 4.0
    assert any(r[8] == "重复计入，予以撤销" and r[7] == -1.0 for r in ledger)
    scores = {r[1]: (r[4], r[5]) for r in tests.iter_rows(min_row=2, values_only=True)}
    assert scores == {"党章知识测试": (85.0, 100.0), "党史知识测试": (40.0, 100.0)}
    assert len(list(certificates.iter_rows(min_row=2))) == 3
    assert sum(r[2] for r in categories.iter_rows(min_row=2, values_only=True)) == 4.0


def _pdf_text(data: bytes) -> str:
    """Text of an uncompressed fpdf2 PDF: glyph ids in the Tj strings mapped through the ToUnicode CMap."""
    cmap: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar\n(.*?)endbfchar", data, re.S):
        for gid, code in re.findall(rb"<([0-9A-Fa-f]+)> <([0-9A-Fa-f]+)>", block):
            cmap[int(gid, 16)] = bytes.fromhex(code.decode()).decode("utf-16-be")
    text = []
    for raw in re.findall(rb"\((.*?)(?<!\\)\) Tj", data, re.S):
        raw = re.sub(
            rb"\\([nrtbf()\\])",
            lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(
                m.group(1), m.group(1)
            ),
            raw,
        )
        text.append(
            "".join(cmap.get(int.from_bytes(raw[i : i + 2], "big"), "?") for i in range(0, len(raw), 2))
        )
    return "\n".join(text)


def test_the_pdf_prints_the_cadre_and_the_certificates(client, cadre, app):  # type: ignore[no-untyped-def]
    if archive_pdf.find_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    login(client, cadre["user"])
    response = client.get("/archive/archive.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and len(response.data) < 200_000  # the font is subset
    with app.test_request_context():
        text = _pdf_text(
            archive_pdf.render_pdf(build_archive(cadre["user"], now=datetime.now(UTC)), compress=False)
        )
    assert NAME in text and "党章知识测试" in text and "重复计入，予以撤销" in text
    assert f"2025-{cadre['user'].id:06d}-{cadre['party'].id:06d}" in text


def test_without_a_cjk_font_the_pdf_is_a_clear_503(client, cadre, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(archive_pdf, "find_font", lambda extra=None: None)
    login(client, cadre["user"])
    response = client.get("/archive/archive.pdf")
    assert response.status_code == 503
    assert "fonts-noto-cjk" in response.get_data(as_text=True)


def test_admins_see_archives_only_in_their_subtree(client, cadre, app):  # type: ignore[no-untyped-def]
    user_id = cadre["user"].id
    login(client, cadre["admin"])
    assert client.get(f"/archive/users/{user_id}").status_code == 200
    assert client.get(f"/archive/users/{user_id}.xlsx").status_code == 200
    elsewhere = app.test_client()
    login(elsewhere, make_admin(of=cadre["orgs"]["county12"]))  # an admin of another county
    for path in (
        f"/archive/users/{user_id}",
        f"/archive/users/{user_id}.pdf",
        f"/archive/users/{user_id}.xlsx",
    ):
        assert elsewhere.get(path).status_code == 404
    assert elsewhere.get("/archive/users/999999").status_code == 404


def test_a_cadre_cannot_open_another_cadres_archive(client, cadre):  # type: ignore[no-untyped-def]
    colleague = make_user(org=cadre["orgs"]["unit11"])
    login(client, colleague)
    for path in ("", ".pdf", ".xlsx"):
        assert client.get(f"/archive/users/{cadre['user'].id}{path}").status_code == 404
    own = client.get("/archive/")
    assert own.status_code == 200 and NAME not in own.get_data(as_text=True)
