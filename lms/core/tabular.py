"""Reading uploaded tables (.xlsx, or .csv in UTF-8 or GB18030) for the all-or-nothing imports, and the
report they reject a file with: (row, column, reason) for every problem found."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from openpyxl import load_workbook

from lms.core.errors import ValidationFailed
from lms.core.i18n import N_


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based row number as the spreadsheet shows it (the heading is row 1)
    column: str  # heading as in the file, or "" for the whole row
    reason: str  # English message id, translated when shown


class ImportRejected(ValidationFailed):
    code = "import_rejected"
    message = N_("The file was not imported: fix the rows listed and upload it again.")

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__()
        self.errors = errors


def decode_csv(data: bytes) -> str:
    # Excel in China saves CSV as GBK/GB18030; UTF-8 (with or without BOM) is tried first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected(
        [RowError(0, "", N_("The file encoding is not recognised: save it as UTF-8 CSV or .xlsx."))]
    )


def read_rows(filename: str, data: bytes) -> Iterator[list[object]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        if not data.startswith(b"PK"):
            raise ImportRejected([RowError(0, "", N_("The file is not a valid .xlsx workbook."))])
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            raise ImportRejected([RowError(0, "", N_("The file is not a valid .xlsx workbook."))]) from None
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
        book.close()
    elif name.endswith(".csv"):
        if b"\x00" in data:
            raise ImportRejected([RowError(0, "", N_("The file is not a text CSV file."))])
        yield from csv.reader(io.StringIO(decode_csv(data), newline=""))
    else:
        raise ImportRejected([RowError(0, "", N_("Upload the .xlsx or .csv template."))])
