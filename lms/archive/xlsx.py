"""The archive as an .xlsx workbook: yearly totals, every ledger row, tests and certificates."""

from __future__ import annotations

import io
from decimal import Decimal

from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.styles import Font

from lms.archive.archive import KIND_LABELS, OTHER_CATEGORY, SOURCE_LABELS, USE_LABELS, Archive
from lms.learning.models import SourceKind


def _num(value: Decimal) -> float:
    return float(value)


def _sheet(book: Workbook, title: str, header: list[str], widths: list[int]):  # type: ignore[no-untyped-def]
    sheet = book.create_sheet(title)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.freeze_panes = "A2"
    return sheet


def render_xlsx(archive: Archive) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    sources = list(SourceKind)

    totals = _sheet(
        book,
        gettext("Yearly totals"),
        [gettext("Year"), gettext("Total hours"), gettext("Required"), gettext("Elective")]
        + [gettext(SOURCE_LABELS[s]) for s in sources]
        + [gettext("Tests taken"), gettext("Tests passed"), gettext("Certificates")],
        [8, 12, 10, 10] + [12] * len(sources) + [10, 10, 10],
    )
    for year in archive.years:
        totals.append(
            [year.year, _num(year.total), _num(year.required), _num(year.elective)]
            + [_num(year.by_source.get(str(s), Decimal(0))) for s in sources]
            + [len(year.attempts), sum(1 for a in year.attempts if a.passed), len(year.certificates)]
        )
    totals.append([gettext("All years"), _num(archive.total)])
    totals.cell(row=totals.max_row, column=1).font = Font(bold=True)

    categories = _sheet(
        book, gettext("By category"), [gettext("Year"), gettext("Category"), gettext("Hours")], [8, 24, 10]
    )
    for year in archive.years:
        for name, hours in year.by_category.items():
            categories.append([year.year, name or gettext(OTHER_CATEGORY), _num(hours)])

    entries = _sheet(
        book,
        gettext("Learning hour records"),
        [
            gettext("Year"),
            gettext("Date"),
            gettext("Entry"),
            gettext("Source"),
            gettext("Required/elective"),
            gettext("Category"),
            gettext("Learning"),
            gettext("Hours"),
            gettext("Reason"),
            gettext("Record no."),
            gettext("Corrects record"),
            gettext("Revoked"),
        ],
        [8, 12, 10, 12, 10, 16, 36, 8, 36, 10, 10, 8],
    )
    for year in archive.years:
        for e in year.entries:
            entries.append(
                [
                    e.year,
                    e.created_at.strftime("%Y-%m-%d"),
                    gettext(KIND_LABELS.get(e.kind, e.kind)),
                    gettext(SOURCE_LABELS.get(e.source_kind, e.source_kind)),
                    gettext(USE_LABELS.get(e.use, e.use)),
                    e.category or gettext(OTHER_CATEGORY),
                    e.title,
                    _num(e.hours),
                    e.reason,
                    e.id,
                    e.corrects_id,
                    gettext("Yes") if e.revoked else "",
                ]
            )

    tests = _sheet(
        book,
        gettext("Tests"),
        [
            gettext("Year"),
            gettext("Test"),
            gettext("Attempt"),
            gettext("Attempts"),
            gettext("Score"),
            gettext("Full marks"),
            gettext("Result"),
            gettext("Submitted"),
        ],
        [8, 36, 8, 8, 8, 8, 10, 18],
    )
    for a in archive.attempts:
        tests.append(
            [
                a.year,
                a.exam_title,
                a.number,
                a.attempts,
                _num(a.score),
                _num(a.max_score),
                gettext("Passed") if a.passed else gettext("Not passed"),
                a.submitted_at.strftime("%Y-%m-%d %H:%M") if a.submitted_at else "",
            ]
        )

    certificates = _sheet(
        book,
        gettext("Certificates"),
        [
            gettext("Certificate no."),
            gettext("Year"),
            gettext("Certificate"),
            gettext("Title"),
            gettext("Issued"),
        ],
        [22, 8, 12, 36, 12],
    )
    for c in archive.certificates:
        certificates.append(
            [
                c.number,
                c.year,
                gettext("Course completed") if c.kind == "course" else gettext("Test passed"),
                c.title,
                c.issued_at.strftime("%Y-%m-%d"),
            ]
        )

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
