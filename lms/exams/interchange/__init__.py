"""Question files in and out: the .xlsx template, Moodle GIFT and Moodle XML (framework-free).

``parse_questions`` reads a whole file or rejects it whole with ``ImportRejected`` listing every problem
as (line, column, reason); the caller stores the questions (updating by ``external_id``, else by
``fingerprint``) so importing the same file twice adds nothing. See docs/question-import.md.
"""

from __future__ import annotations

from lms.core.i18n import N_
from lms.core.tabular import ImportRejected, RowError
from lms.exams.interchange.gift import parse_gift
from lms.exams.interchange.model import MAX_QUESTIONS, ImportedQuestion, fingerprint
from lms.exams.interchange.moodle_xml import parse_moodle_xml
from lms.exams.interchange.xlsx import COLUMNS, export_xlsx, parse_xlsx, template_xlsx

__all__ = [
    "COLUMNS",
    "ImportRejected",
    "ImportedQuestion",
    "RowError",
    "export_xlsx",
    "fingerprint",
    "parse_questions",
    "template_xlsx",
]


def parse_questions(filename: str, data: bytes) -> list[ImportedQuestion]:
    """Every question in the file, in file order, or ``ImportRejected`` with all the problems found."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        questions = parse_xlsx(filename, data)
    elif name.endswith((".gift", ".txt")):
        questions = parse_gift(data) if data.strip() else []
    elif name.endswith(".xml"):
        questions = parse_moodle_xml(data) if data.strip() else []
    else:
        raise ImportRejected(
            [RowError(0, "", N_("Unsupported file type: use .xlsx, .gift/.txt (GIFT) or .xml (Moodle XML)."))]
        )
    if not questions:
        raise ImportRejected([RowError(0, "", N_("The file has no questions."))])
    if len(questions) > MAX_QUESTIONS:
        raise ImportRejected([RowError(0, "", N_("The file has too many questions (at most 10,000)."))])
    return questions
