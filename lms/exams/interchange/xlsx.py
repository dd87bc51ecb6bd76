"""The .xlsx question template (the way admins in China keep question banks): reading, writing and the
empty template with its instructions. Columns and accepted values are documented in
docs/question-import.md and on the template's 说明 sheet."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from lms.core.i18n import N_
from lms.core.tabular import ImportRejected, RowError, read_rows
from lms.exams.interchange.model import (
    OPTION_KEYS,
    ImportedQuestion,
    check_question,
    clean_category,
    clean_tags,
    clean_text,
    mark_blanks,
    nfkc,
    parse_marks,
)

# (key, Chinese heading as written in the template)
COLUMNS: list[tuple[str, str]] = [
    ("external_id", "题号"),
    ("type", "题型"),
    ("stem", "题干"),
    *[(f"option_{k}", f"选项{k}") for k in OPTION_KEYS],
    ("answer", "答案"),
    ("explanation", "解析"),
    ("category", "分类"),
    ("tags", "标签"),
    ("difficulty", "难度"),
    ("marks", "分值"),
    ("partial", "多选计分"),
]
HEADING_OF = dict(COLUMNS)
REQUIRED = ("type", "stem", "answer")
ALIASES = {
    "编号": "external_id",
    "试题编号": "external_id",
    "题目编号": "external_id",
    "试题类型": "type",
    "题目类型": "type",
    "题目": "stem",
    "试题内容": "stem",
    "题目内容": "stem",
    "正确答案": "answer",
    "参考答案": "answer",
    "答案解析": "explanation",
    "试题解析": "explanation",
    "题目分类": "category",
    "知识点": "tags",
    "分数": "marks",
}
HEADING_TO_KEY = (
    {heading: key for key, heading in COLUMNS}
    | {key: key for key, _ in COLUMNS}
    | ALIASES
    | {f"选项{k}": f"option_{k}" for k in OPTION_KEYS}
)
EXTRA_OPTION = re.compile(r"^选项[I-Z]$")

TYPE_NAMES = {
    "single": ("单选", "单选题", "单项选择", "单项选择题", "single"),
    "multiple": ("多选", "多选题", "多项选择", "多项选择题", "不定项选择", "不定项选择题", "multiple"),
    "true_false": ("判断", "判断题", "是非题", "true_false"),
    "fill_blank": ("填空", "填空题", "fill_blank"),
    "short_answer": ("简答", "简答题", "问答", "问答题", "论述", "论述题", "short_answer"),
}
TYPE_OF = {name: kind for kind, names in TYPE_NAMES.items() for name in names}
TYPE_LABEL = {kind: names[0] for kind, names in TYPE_NAMES.items()}

TRUE_WORDS = {"对", "正确", "是", "√", "✓", "✔", "T", "TRUE", "Y", "YES", "1"}
FALSE_WORDS = {"错", "错误", "否", "×", "✗", "✘", "X", "F", "FALSE", "N", "NO", "0"}

DIFFICULTY_NAMES = {
    "易": 1, "容易": 1, "简单": 1, "较易": 2, "较简单": 2, "中": 3, "中等": 3, "一般": 3,
    "较难": 4, "难": 5, "困难": 5,
}  # fmt: skip
DIFFICULTY_LABEL = {1: "易", 2: "较易", 3: "中", 4: "较难", 5: "难"}

PARTIAL_NAMES = {
    "全对得分": "all_or_nothing", "全对": "all_or_nothing", "全部正确得分": "all_or_nothing",
    "漏选得一半": "miss_half", "漏选得半分": "miss_half", "漏选半分": "miss_half",
    "按选项": "per_option", "按选项得分": "per_option", "按选项计分": "per_option",
    "all_or_nothing": "all_or_nothing", "miss_half": "miss_half", "per_option": "per_option",
}  # fmt: skip
PARTIAL_LABEL = {"all_or_nothing": "全对得分", "miss_half": "漏选得一半", "per_option": "按选项"}

TAG_SEPARATORS = re.compile(r"[、,，;；]")
ANSWER_SEPARATORS = re.compile(r"[\s,、;/]+")
BLANK_SEPARATOR = re.compile(r"[|｜]{2}")
ALTERNATIVE_SEPARATOR = re.compile(r"[|｜]")

SHEET_QUESTIONS = "题目"
SHEET_EXAMPLES = "示例"
SHEET_HELP = "说明"


# --- reading -------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number cell: 1001.0 -> "1001"
    return clean_text(str(value))


def parse_xlsx(filename: str, data: bytes) -> list[ImportedQuestion]:
    rows = read_rows(filename, data)
    heading = next(rows, None)
    while heading is not None and all(_text(c) == "" for c in heading):
        heading = next(rows, None)
    if heading is None:
        raise ImportRejected([RowError(0, "", N_("The file is empty."))])
    titles = [nfkc(_text(h)) for h in heading]
    keys = [HEADING_TO_KEY.get(t) for t in titles]
    missing = [HEADING_OF[k] for k in REQUIRED if k not in keys]
    if missing:
        raise ImportRejected([RowError(1, h, N_("Required column is missing.")) for h in missing])
    extra = [i for i, t in enumerate(titles) if EXTRA_OPTION.match(t)]
    headings = {key: titles[i] for i, key in enumerate(keys) if key}

    errors: list[RowError] = []
    questions: list[ImportedQuestion] = []
    seen_ids: dict[str, int] = {}
    for number, raw in enumerate(rows, start=2):
        cells = {key: _text(raw[i]) if i < len(raw) else "" for i, key in enumerate(keys) if key}
        raw_answer = raw[keys.index("answer")] if keys.index("answer") < len(raw) else None
        if not any(cells.values()):
            continue
        row_errors: list[RowError] = []

        def fail(key: str, reason: str, row: int = number, errs: list[RowError] = row_errors) -> None:
            errs.append(RowError(row, headings.get(key, HEADING_OF.get(key, "")), reason))

        for i in extra:
            if i < len(raw) and _text(raw[i]):
                row_errors.append(RowError(number, titles[i], N_("Options A–H only.")))
        question = _read_row(cells, raw_answer, fail)
        if question is not None and not row_errors:
            external_id = question.external_id
            if external_id is not None and external_id in seen_ids:
                fail("external_id", N_("The same question number appears twice in the file."))
            else:
                if external_id is not None:
                    seen_ids[external_id] = number
                questions.append(replace(question, line=number))
        errors.extend(row_errors)
    if errors:
        raise ImportRejected(errors)
    return questions


def _read_row(cells: dict[str, str], raw_answer: object, fail) -> ImportedQuestion | None:  # type: ignore[no-untyped-def]
    ok = True
    external_id = cells.get("external_id", "")
    if len(external_id) > 64:
        fail("external_id", N_("The question number is too long (at most 64 characters)."))
        ok = False
    type_name = nfkc(cells.get("type", "")).lower()
    kind = TYPE_OF.get(type_name)
    if not type_name:
        fail("type", N_("The question type is missing."))
        return None
    if kind is None:
        fail("type", N_("Unknown question type."))
        return None
    stem = cells.get("stem", "")
    options_given = {k: cells.get(f"option_{k}", "") for k in OPTION_KEYS}
    last = max((i for i, k in enumerate(OPTION_KEYS) if options_given[k]), default=-1)
    options = [{"key": k, "text": options_given[k]} for k in OPTION_KEYS[: last + 1]]
    answer = cells.get("answer", "")
    explanation = cells.get("explanation", "")
    content: dict = {"type": kind, "stem": stem}  # type: ignore[type-arg]

    if kind in ("single", "multiple"):
        gap = next((o["key"] for o in options if not o["text"]), None)
        if gap is not None:
            fail(f"option_{gap}", N_("Fill in the options in order, without gaps."))
            ok = False
        content["options"] = options
        letters = _answer_letters(answer)
        if not answer:
            fail("answer", N_("The answer is missing."))
            ok = False
        elif letters is None:
            fail("answer", N_("The answer must be option letters, e.g. B or ACD."))
            ok = False
        elif any(letter not in OPTION_KEYS for letter in letters):
            fail("answer", N_("Options A–H only."))
            ok = False
        else:
            content["correct"] = letters
        if kind == "multiple":
            partial_name = nfkc(cells.get("partial", "")).lower()
            partial = PARTIAL_NAMES.get(partial_name, "all_or_nothing" if not partial_name else None)
            if partial is None:
                fail("partial", N_("The scoring rule must be 全对得分, 漏选得一半 or 按选项."))
                ok = False
            content["partial"] = partial
    elif kind == "true_false":
        value = _true_false(answer, raw_answer, options_given)
        if not answer:
            fail("answer", N_("The answer is missing."))
            ok = False
        elif value is None:
            fail("answer", N_("A true/false answer must be 对 or 错 (also 正确/错误, √/×, T/F)."))
            ok = False
        content["correct"] = value
    else:
        if any(options_given.values()):
            fail("options", N_("Only choice questions have options."))
            ok = False
        if kind == "fill_blank":
            content["stem"] = stem = mark_blanks(stem)
            if not answer:
                fail("answer", N_("The answer is missing."))
                ok = False
            blanks = [
                [a.strip() for a in ALTERNATIVE_SEPARATOR.split(blank) if a.strip()]
                for blank in BLANK_SEPARATOR.split(answer)
            ]
            content["blanks"] = blanks
        else:
            content["reference_answer"] = answer
    content["explanation"] = explanation

    if ok:
        fields = {"type": "type", "stem": "stem", "options": "option_A", "correct": "answer"}
        fields |= {"blanks": "answer", "partial": "partial", "": "answer"}
        for field, reason in check_question(content):
            fail(fields.get(field, "answer"), reason)
            ok = False

    difficulty = None
    if cells.get("difficulty"):
        name = nfkc(cells["difficulty"])
        difficulty = DIFFICULTY_NAMES.get(name)
        if difficulty is None and name in {"1", "2", "3", "4", "5"}:
            difficulty = int(name)
        if difficulty is None:
            fail("difficulty", N_("Difficulty must be 易, 较易, 中, 较难, 难 or 1–5."))
            ok = False
    marks = Decimal(1)
    if cells.get("marks"):
        parsed = parse_marks(cells["marks"])
        if parsed is None:
            fail("marks", N_("Marks must be a positive number (at most 1000, two decimals)."))
            ok = False
        else:
            marks = parsed
    if not ok:
        return None
    return ImportedQuestion(
        content=content,
        category=clean_category(cells.get("category", "")),
        tags=clean_tags(TAG_SEPARATORS.split(cells.get("tags", ""))),
        difficulty=difficulty,
        marks=marks,
        external_id=external_id or None,
        line=0,
    )


def _answer_letters(answer: str) -> list[str] | None:
    letters = ANSWER_SEPARATORS.sub("", nfkc(answer).upper())
    if not letters or not all("A" <= ch <= "Z" for ch in letters):
        return None
    return sorted(set(letters))


def _true_false(answer: str, raw: object, options: dict[str, str]) -> bool | None:
    if isinstance(raw, bool):
        return raw
    word = nfkc(answer).upper().rstrip("。.")
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    # Some systems keep 判断 as a choice between 选项A 正确 / 选项B 错误 with the answer "A".
    if len(word) == 1 and word in options and options[word]:
        return _true_false(options[word], None, {})
    return None


# --- writing -------------------------------------------------------------------------------------


def _set(cell: Cell, value: object) -> None:
    cell.value = value  # type: ignore[assignment]
    if isinstance(value, str):
        cell.data_type = "s"  # text starting with "=" stays text, never a formula


def _heading(sheet: Worksheet) -> None:
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for col, (_key, heading) in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=col)
        _set(cell, heading)
        cell.font = bold
        cell.fill = fill
    sheet.freeze_panes = "A2"
    widths = {"题干": 48, "解析": 30, "答案": 16, "分类": 20, "标签": 16, "多选计分": 12}
    for col, (_key, heading) in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=1, column=col).column_letter
        sheet.column_dimensions[letter].width = widths.get(heading, 14 if heading.startswith("选项") else 8)


def _row_values(q: ImportedQuestion) -> dict[str, object]:
    c = q.content
    kind = c["type"]
    values: dict[str, object] = {
        "external_id": q.external_id or "",
        "type": TYPE_LABEL[kind],
        "stem": c.get("stem", ""),
        "explanation": c.get("explanation", ""),
        "category": q.category,
        "tags": "、".join(q.tags),
        "difficulty": DIFFICULTY_LABEL.get(q.difficulty, "") if q.difficulty else "",
        "marks": int(q.marks) if q.marks == q.marks.to_integral_value() else float(q.marks),
    }
    if kind in ("single", "multiple"):
        for option in c.get("options", []):
            values[f"option_{option['key']}"] = option["text"]
        values["answer"] = "".join(c.get("correct", []))
        if kind == "multiple":
            values["partial"] = PARTIAL_LABEL.get(c.get("partial", ""), "")
    elif kind == "true_false":
        values["answer"] = "对" if c.get("correct") else "错"
    elif kind == "fill_blank":
        values["answer"] = "||".join("|".join(blank) for blank in c.get("blanks", []))
    else:
        values["answer"] = c.get("reference_answer", "")
    return values


def _write_rows(sheet: Worksheet, questions: Iterable[ImportedQuestion], start: int = 2) -> None:
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, q in enumerate(questions, start=start):
        values = _row_values(q)
        for col, (key, _heading_text) in enumerate(COLUMNS, start=1):
            value = values.get(key, "")
            if value != "":
                cell = sheet.cell(row=number, column=col)
                _set(cell, value)
                cell.alignment = wrap


def _save(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_xlsx(questions: Iterable[ImportedQuestion]) -> bytes:
    """The questions in the import template (first sheet 题目), so exporting and importing again gives
    the same content."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_QUESTIONS
    _heading(sheet)
    _write_rows(sheet, questions)
    return _save(book)


EXAMPLES = [
    ImportedQuestion(
        {
            "type": "single",
            "stem": "党的最高领导机关是（　）。",
            "options": [
                {"key": "A", "text": "党的全国代表大会和它所产生的中央委员会"},
                {"key": "B", "text": "中央政治局"},
                {"key": "C", "text": "中央书记处"},
                {"key": "D", "text": "中央纪律检查委员会"},
            ],
            "correct": ["A"],
            "explanation": "见《中国共产党章程》第十条。",
        },
        "党章党规/党章",
        ("党章", "组织制度"),
        2,
        Decimal(1),
        "DZ-001",
        0,
    ),
    ImportedQuestion(
        {
            "type": "multiple",
            "stem": "党的纪律处分条例规定的“六项纪律”包括（　）。",
            "options": [
                {"key": "A", "text": "政治纪律"},
                {"key": "B", "text": "组织纪律"},
                {"key": "C", "text": "廉洁纪律"},
                {"key": "D", "text": "外事纪律"},
            ],
            "correct": ["A", "B", "C"],
            "partial": "miss_half",
            "explanation": "六项纪律：政治纪律、组织纪律、廉洁纪律、群众纪律、工作纪律、生活纪律。",
        },
        "党章党规/纪律处分条例",
        ("纪律",),
        3,
        Decimal(2),
        "JL-001",
        0,
    ),
    ImportedQuestion(
        {
            "type": "true_false",
            "stem": "“两个确立”是党在新时代取得的重大政治成果。",
            "correct": True,
            "explanation": "",
        },
        "理论学习",
        ("两个确立",),
        1,
        Decimal(1),
        "LL-001",
        0,
    ),
    ImportedQuestion(
        {
            "type": "fill_blank",
            "stem": "党的思想路线是一切从实际出发，理论联系实际，＿＿，在实践中检验真理和发展真理。",
            "blanks": [["实事求是"]],
            "explanation": "",
        },
        "党章党规/党章",
        (),
        3,
        Decimal(1),
        "DZ-002",
        0,
    ),
    ImportedQuestion(
        {
            "type": "short_answer",
            "stem": "简述“两个维护”的内涵。",
            "reference_answer": (
                "坚决维护习近平总书记党中央的核心、全党的核心地位，坚决维护党中央权威和集中统一领导。"
            ),
            "explanation": "",
        },
        "理论学习",
        ("两个维护",),
        4,
        Decimal(5),
        "LL-002",
        0,
    ),
]

HELP_ROWS: list[tuple[str, str, str]] = [
    ("题号", "选填", "本题在题库中的唯一编号（最多 64 字）。再次导入同一题号时更新该题，而不是重复新增。"),
    ("题型", "必填", "单选、多选、判断、填空、简答（也可写“单选题”“单项选择题”等）。"),
    ("题干", "必填", "题目内容，最多 5000 字。填空题用 ＿＿、___ 或 （ ） 标出每个空。"),
    ("选项A～选项H", "选择题必填", "至少两个选项，从选项A起依次填写，不能跳空；最多 8 个（A～H）。"),
    (
        "答案",
        "必填",
        "单选：一个字母，如 B；多选：如 ACD 或 A,C,D；判断：对/错（也可写 正确/错误、√/×、T/F）；"
        "填空：各空之间用 || 分隔，同一空的多个可接受答案用 | 分隔，如 实事求是|实事求是的||群众路线；"
        "简答：参考答案（可不填）。",
    ),
    ("解析", "选填", "答案解析，作答后按考试设置显示。"),
    ("分类", "选填", "多级分类用 / 分隔，如 党章党规/纪律处分条例。"),
    ("标签", "选填", "多个标签用 、 或 , 分隔。"),
    ("难度", "选填", "易、较易、中、较难、难，或 1～5。"),
    ("分值", "选填", "正数，最多两位小数，默认 1。"),
    ("多选计分", "选填", "仅多选题：全对得分（默认）、漏选得一半、按选项。"),
]
HELP_NOTES = [
    "说明：在“题目”工作表中从第 2 行起每行填写一道题，第 1 行标题不要修改。“示例”工作表有每种题型的示例。",
    "导入时整份文件一起检查：任何一行有错，整份文件都不导入，并列出每个错误所在的行和原因；改正后重新上传即可。",
    "同一文件重复导入不会产生重复试题：有题号的按题号更新，没有题号的按题目内容识别。",
    "字母、数字可用全角或半角；答案中的空格和顿号会被忽略。",
]


def template_xlsx() -> bytes:
    """The empty template: 题目 (the heading row, where questions go), 示例 (one example row per type)
    and 说明 (what each column takes)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET_QUESTIONS
    _heading(sheet)

    examples = book.create_sheet(SHEET_EXAMPLES)
    _heading(examples)
    _write_rows(examples, EXAMPLES)

    help_sheet = book.create_sheet(SHEET_HELP)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row, note in enumerate(HELP_NOTES, start=1):
        _set(help_sheet.cell(row=row, column=1), note)
    start = len(HELP_NOTES) + 2
    for col, title in enumerate(("列名", "是否必填", "填写说明"), start=1):
        cell = help_sheet.cell(row=start, column=col)
        _set(cell, title)
        cell.font = Font(bold=True)
    for row, values in enumerate(HELP_ROWS, start=start + 1):
        for col, value in enumerate(values, start=1):
            cell = help_sheet.cell(row=row, column=col)
            _set(cell, value)
            cell.alignment = wrap
    help_sheet.column_dimensions["A"].width = 16
    help_sheet.column_dimensions["B"].width = 12
    help_sheet.column_dimensions["C"].width = 90
    return _save(book)
