"""The archive as a printable A4 PDF (fpdf2), set in a CJK font found on the system.

fpdf2 embeds only the glyphs used (subsetting), so a PDF stays small even with a 20 MB font collection.
No font found → ``FontMissing`` (503 with a hint to install fonts-noto-cjk), never a broken PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from flask_babel import gettext

from lms.archive.archive import KIND_LABELS, OTHER_CATEGORY, SOURCE_LABELS, USE_LABELS, Archive, ArchiveYear
from lms.core.errors import LmsError
from lms.core.i18n import N_

# Simplified Chinese first. A .ttc is a collection: the face is picked by name (see _face_index).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "C:/Windows/Fonts/simhei.ttf",
)
FONT = "cjk"


class FontMissing(LmsError):
    http_status = 503
    code = "font_missing"
    message = N_(
        "The PDF cannot be made: no Chinese font is installed on the server. "
        "Ask the administrator to install fonts-noto-cjk (apt-get install fonts-noto-cjk)."
    )


def _face_index(path: str) -> int:
    """In a collection, the Simplified Chinese proportional face ("… SC", not "Mono"); else 0."""
    if not path.lower().endswith(".ttc"):
        return 0
    from fontTools.ttLib import TTCollection

    try:
        with open(path, "rb") as file:
            collection = TTCollection(file, lazy=True)
            names = [str(font["name"].getDebugName(1) or "") for font in collection.fonts]
    except Exception:
        return 0
    for wanted in (lambda n: n.endswith(" SC") and "Mono" not in n, lambda n: "SC" in n or "GB" in n):
        for index, name in enumerate(names):
            if wanted(name):
                return index
    return 0


@lru_cache(maxsize=4)
def find_font(extra: str | None = None) -> tuple[str, int] | None:
    """(path, face index) of the first CJK font present: ``LMS_PDF_FONT`` if set, then the list above."""
    for path in (extra, *FONT_CANDIDATES):
        if path and Path(path).is_file():
            return path, _face_index(path)
    return None


def _num(value: Decimal) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


class _Pdf:
    def __init__(self, font: tuple[str, int], compress: bool) -> None:
        from fpdf import FPDF

        self.doc = FPDF(orientation="portrait", unit="mm", format="A4")
        self.doc.set_compression(compress)
        self.doc.set_margins(15, 15, 15)
        self.doc.set_auto_page_break(auto=True, margin=15)
        path, index = font
        self.doc.add_font(FONT, fname=path, collection_font_number=index)

    def text(self, text: str, size: float = 10, gap: float = 1.5) -> None:
        self.doc.set_font(FONT, size=size)
        self.doc.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        self.doc.ln(gap)

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[int], align: str = "LEFT") -> None:
        from fpdf.fonts import FontFace

        self.doc.set_font(FONT, size=9)
        with self.doc.table(
            col_widths=tuple(widths),
            headings_style=FontFace(emphasis="", fill_color=(232, 236, 240)),
            line_height=5,
            text_align=align,
            padding=1,
        ) as table:
            for row in rows:
                cells = table.row()
                for value in row:
                    cells.cell(value)
        self.doc.ln(3)


def _year(pdf: _Pdf, item: ArchiveYear) -> None:
    pdf.text(
        gettext(
            "%(year)s: %(total)s hours (required %(required)s, elective %(elective)s)",
            year=item.year,
            total=_num(item.total),
            required=_num(item.required),
            elective=_num(item.elective),
        ),
        size=13,
    )
    sources = "；".join(f"{gettext(SOURCE_LABELS.get(k, k))} {_num(v)}" for k, v in item.by_source.items())
    categories = "；".join(f"{k or gettext(OTHER_CATEGORY)} {_num(v)}" for k, v in item.by_category.items())
    if sources:
        pdf.text(gettext("By source") + "：" + sources, size=9, gap=0.5)
    if categories:
        pdf.text(gettext("By category") + "：" + categories, size=9)
    if item.entries:
        rows = [[gettext("Date"), gettext("Entry"), gettext("Learning"), gettext("Hours"), gettext("Note")]]
        for e in item.entries:
            kind = gettext(KIND_LABELS.get(e.kind, e.kind))
            source = gettext(SOURCE_LABELS.get(e.source_kind, e.source_kind))
            note = e.reason
            if e.revoked:
                note = (gettext("Revoked") + " " + note).strip()
            rows.append(
                [
                    e.created_at.strftime("%Y-%m-%d"),
                    f"{kind}\n{source} · {gettext(USE_LABELS.get(e.use, e.use))}",
                    e.title,
                    _num(e.hours),
                    note,
                ]
            )
        pdf.table(rows, (22, 30, 70, 16, 42))
    if item.attempts:
        rows = [
            [gettext("Test"), gettext("Attempt"), gettext("Score"), gettext("Result"), gettext("Submitted")]
        ]
        for a in item.attempts:
            rows.append(
                [
                    a.exam_title,
                    f"{a.number}/{a.attempts}",
                    f"{_num(a.score)} / {_num(a.max_score)}",
                    gettext("Passed") if a.passed else gettext("Not passed"),
                    a.submitted_at.strftime("%Y-%m-%d %H:%M") if a.submitted_at else "",
                ]
            )
        pdf.table(rows, (70, 18, 30, 20, 42))
    if item.certificates:
        rows = [[gettext("Certificate no."), gettext("Certificate"), gettext("Issued")]]
        for c in item.certificates:
            what = gettext("Course completed") if c.kind == "course" else gettext("Test passed")
            rows.append([c.number, f"{what}：{c.title}", c.issued_at.strftime("%Y-%m-%d")])
        pdf.table(rows, (50, 100, 30))


def render_pdf(archive: Archive, *, font_path: str = "", compress: bool = True) -> bytes:
    font = find_font(font_path or None)
    if font is None:
        raise FontMissing()
    pdf = _Pdf(font, compress)
    title = gettext("Training archive")
    pdf.doc.set_title(f"{archive.name} {title}")
    pdf.doc.set_author(archive.org_name)
    pdf.doc.set_creator("lms")
    pdf.doc.add_page()
    pdf.text(title, size=18, gap=2)
    pdf.text(
        gettext(
            "%(name)s (%(login)s) · %(org)s",
            name=archive.name,
            login=archive.login_name,
            org=archive.org_name,
        ),
        size=11,
        gap=0.5,
    )
    pdf.text(
        gettext(
            "Total %(total)s hours over %(years)s years · %(certificates)s certificates · made %(date)s",
            total=_num(archive.total),
            years=len(archive.years),
            certificates=len(archive.certificates),
            date=archive.generated_at.strftime("%Y-%m-%d %H:%M"),
        ),
        size=9,
        gap=3,
    )
    if not archive.years:
        pdf.text(gettext("No learning records yet."))
    for item in archive.years:
        _year(pdf, item)
    return bytes(pdf.doc.output())
