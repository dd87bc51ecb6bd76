"""Question files in and out (xlsx template, GIFT, Moodle XML): what comes in, and whole-file rejection
with line numbers. No database."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from lms.core.tabular import ImportRejected, RowError
from lms.exams.content import check_content
from lms.exams.interchange import (
    COLUMNS,
    ImportedQuestion,
    export_xlsx,
    fingerprint,
    parse_questions,
    template_xlsx,
)
from lms.exams.interchange.model import html_to_text

HEADINGS = [heading for _key, heading in COLUMNS]


def _xlsx(rows: list[dict[str, object]], headings: list[str] = HEADINGS) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(headings)
    for row in rows:
        sheet.append([row.get(h) for h in headings])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rejected(filename: str, data: bytes) -> list[RowError]:
    with pytest.raises(ImportRejected) as caught:
        parse_questions(filename, data)
    return caught.value.errors


def _options(*texts: str) -> list[dict[str, str]]:
    return [{"key": "ABCDEFGH"[i], "text": t} for i, t in enumerate(texts)]


# --- xlsx ----------------------------------------------------------------------------------------

XLSX_ROWS: list[dict[str, object]] = [
    {
        "题号": "DZ-001",
        "题型": "单选题",
        "题干": "党的最高领导机关是（　）。",
        "选项A": "党的全国代表大会和它所产生的中央委员会",
        "选项B": "中央政治局",
        "选项C": "中央书记处",
        "选项D": "中央纪律检查委员会",
        "答案": "Ａ",  # full-width letter
        "解析": "见《中国共产党章程》第十条。",
        "分类": "党章党规／党章",
        "标签": "党章、组织制度",
        "难度": "较易",
        "分值": 1,
    },
    {
        "题号": 1002,  # a number cell
        "题型": "多选",
        "题干": "根据《中国共产党纪律处分条例》，党的纪律包括（　）。",
        "选项A": "政治纪律",
        "选项B": "组织纪律",
        "选项C": "廉洁纪律",
        "选项D": "外事纪律",
        "答案": "Ａ，Ｂ、c",
        "分类": " 党章党规 / 纪律处分条例 ",
        "标签": "纪律，处分条例",
        "难度": 3,
        "分值": 2.5,
        "多选计分": "漏选得一半",
    },
    {
        "题型": "判断",
        "题干": "“两个确立”是党在新时代取得的重大政治成果。",
        "答案": "√",
        "难度": "易",
    },
    {
        "题型": "判断题",
        "题干": "党员可以同时参加两个党支部的组织生活并缴纳两份党费。",
        "选项A": "正确",
        "选项B": "错误",
        "答案": "B",  # the 选项 style some systems export
    },
    {
        "题型": "填空",
        "题干": "党的思想路线是一切从实际出发，理论联系实际，＿＿，在实践中检验真理和发展真理；"
        "党的根本工作路线是（　）。",
        "答案": "实事求是|实事求是的｜｜群众路线",
        "解析": "党章总纲。",
    },
    {
        "题型": "填空题",
        "题干": "中国共产党第一次全国代表大会于哪一年召开？",
        "答案": 1921,
    },
    {
        "题型": "简答",
        "题干": "简述“两个维护”的内涵。",
        "答案": "坚决维护习近平总书记党中央的核心、全党的核心地位，\n坚决维护党中央权威和集中统一领导。",
        "分值": "10",
        "难度": "较难",
    },
]


def test_xlsx_every_type_comes_in_intact_and_round_trips() -> None:
    questions = parse_questions("题库.xlsx", _xlsx(XLSX_ROWS))
    assert [q.content for q in questions] == [
        {
            "type": "single",
            "stem": "党的最高领导机关是（　）。",
            "options": _options(
                "党的全国代表大会和它所产生的中央委员会", "中央政治局", "中央书记处", "中央纪律检查委员会"
            ),
            "correct": ["A"],
            "explanation": "见《中国共产党章程》第十条。",
        },
        {
            "type": "multiple",
            "stem": "根据《中国共产党纪律处分条例》，党的纪律包括（　）。",
            "options": _options("政治纪律", "组织纪律", "廉洁纪律", "外事纪律"),
            "correct": ["A", "B", "C"],
            "partial": "miss_half",
            "explanation": "",
        },
        {
            "type": "true_false",
            "stem": "“两个确立”是党在新时代取得的重大政治成果。",
            "correct": True,
            "explanation": "",
        },
        {
            "type": "true_false",
            "stem": "党员可以同时参加两个党支部的组织生活并缴纳两份党费。",
            "correct": False,
            "explanation": "",
        },
        {
            "type": "fill_blank",
            "stem": "党的思想路线是一切从实际出发，理论联系实际，＿＿，在实践中检验真理和发展真理；"
            "党的根本工作路线是＿＿。",
            "blanks": [["实事求是", "实事求是的"], ["群众路线"]],
            "explanation": "党章总纲。",
        },
        {
            "type": "fill_blank",
            "stem": "中国共产党第一次全国代表大会于哪一年召开？",
            "blanks": [["1921"]],
            "explanation": "",
        },
        {
            "type": "short_answer",
            "stem": "简述“两个维护”的内涵。",
            "reference_answer": "坚决维护习近平总书记党中央的核心、全党的核心地位，\n"
            "坚决维护党中央权威和集中统一领导。",
            "explanation": "",
        },
    ]
    assert all(check_content(q.content) == [] for q in questions)
    first, second = questions[0], questions[1]
    assert (first.external_id, first.category, first.tags, first.difficulty, first.marks, first.line) == (
        "DZ-001",
        "党章党规/党章",
        ("党章", "组织制度"),
        2,
        Decimal(1),
        2,
    )
    assert (second.external_id, second.category, second.tags, second.difficulty, second.marks) == (
        "1002",
        "党章党规/纪律处分条例",
        ("纪律", "处分条例"),
        3,
        Decimal("2.5"),
    )
    assert questions[2].difficulty == 1 and questions[2].external_id is None and questions[2].line == 4
    assert questions[6].marks == Decimal(10) and questions[6].difficulty == 4

    again = parse_questions("export.xlsx", export_xlsx(questions))
    assert again == questions
    # The same file read twice gives the same ids and fingerprints (what the bank de-duplicates by).
    assert [fingerprint(q) for q in again] == [fingerprint(q) for q in questions]
    assert len({fingerprint(q) for q in questions}) == len(questions)


def test_template_has_heading_examples_and_instructions_and_imports_its_examples() -> None:
    data = template_xlsx()
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["题目", "示例", "说明"]
    first = book["题目"]
    assert [c.value for c in first[1]] == HEADINGS
    assert first.max_row == 1
    assert "答案" in "".join(str(c.value) for c in book["说明"]["A"])
    # The empty template is rejected (no questions); its example sheet, moved first, imports.
    assert _rejected("template.xlsx", data) == [RowError(0, "", "The file has no questions.")]
    book.move_sheet("示例", offset=-1)
    out = io.BytesIO()
    book.save(out)
    examples = parse_questions("template.xlsx", out.getvalue())
    assert [q.content["type"] for q in examples] == [
        "single",
        "multiple",
        "true_false",
        "fill_blank",
        "short_answer",
    ]


def test_export_keeps_text_that_looks_like_a_formula() -> None:
    question = ImportedQuestion(
        {"type": "short_answer", "stem": "=SUM(A1:A2)", "reference_answer": "=1+1", "explanation": ""},
        "",
        (),
        None,
        Decimal("0.5"),
        None,
        2,
    )
    assert parse_questions("x.xlsx", export_xlsx([question])) == [question]


def test_xlsx_bad_rows_are_all_reported_and_nothing_comes_in() -> None:
    rows: list[dict[str, object]] = [
        {"题型": "单选", "题干": "党的性质是什么？", "选项A": "甲", "选项B": "乙", "答案": "A"},
        {"题型": "连线题", "题干": "把下列条例与年份连起来。", "答案": "A"},
        {
            "题型": "多选",
            "题干": "以下哪些属于六项纪律？",
            "选项A": "政治纪律",
            "选项B": "生活纪律",
            "答案": "AB",
        },
        {"题型": "单选", "题干": "党的最高领导机关是？", "选项A": "甲", "选项B": "乙"},
        {"题型": "单选", "题干": "两个答案？", "选项A": "甲", "选项B": "乙", "答案": "AB", "难度": "很难"},
        {"题型": "多选", "题干": "I 选项？", "选项A": "甲", "选项B": "乙", "答案": "AI"},
        {"题型": "填空", "题干": "＿＿和＿＿。", "答案": "一||"},
        {"题型": "填空", "题干": "＿＿和＿＿。", "答案": "只有一个"},
        {"题型": "判断", "题干": "对吗？", "答案": "也许", "分值": -1},
        {"题型": "单选", "题干": "选项有空缺", "选项A": "甲", "选项C": "丙", "答案": "A"},
    ]
    errors = _rejected("bad.xlsx", _xlsx(rows))
    assert errors == [
        RowError(3, "题型", "Unknown question type."),
        RowError(5, "答案", "The answer is missing."),
        RowError(6, "答案", "A single-choice question needs exactly one correct option."),
        RowError(6, "难度", "Difficulty must be 易, 较易, 中, 较难, 难 or 1–5."),
        RowError(7, "答案", "Options A–H only."),
        RowError(8, "答案", "A fill-in-the-blank question needs at least one accepted answer per blank."),
        RowError(
            9,
            "答案",
            "The number of blanks in the question text (＿＿, ___ or （）) does not match the number of "
            "answers (separate blanks with ||).",
        ),
        RowError(10, "答案", "A true/false answer must be 对 or 错 (also 正确/错误, √/×, T/F)."),
        RowError(10, "分值", "Marks must be a positive number (at most 1000, two decimals)."),
        RowError(11, "选项B", "Fill in the options in order, without gaps."),
    ]


def test_xlsx_file_level_problems() -> None:
    assert _rejected("a.xlsx", _xlsx([], ["题号", "题干"])) == [
        RowError(1, "题型", "Required column is missing."),
        RowError(1, "答案", "Required column is missing."),
    ]
    assert _rejected("a.xlsx", b"not a zip") == [RowError(0, "", "The file is not a valid .xlsx workbook.")]
    assert _rejected("a.doc", b"x") == [
        RowError(0, "", "Unsupported file type: use .xlsx, .gift/.txt (GIFT) or .xml (Moodle XML).")
    ]
    same = {"题号": "Q1", "题型": "判断", "题干": "对吗？", "答案": "对"}
    assert _rejected("a.xlsx", _xlsx([same, same])) == [
        RowError(3, "题号", "The same question number appears twice in the file.")
    ]
    headings = [*HEADINGS, "选项I"]
    row = {"题型": "单选", "题干": "九个选项？", "选项A": "甲", "选项B": "乙", "答案": "A", "选项I": "壬"}
    assert _rejected("a.xlsx", _xlsx([row], headings)) == [RowError(2, "选项I", "Options A–H only.")]


# --- GIFT ----------------------------------------------------------------------------------------

GIFT = """// 党章党规题库（GIFT 格式）
$CATEGORY: $course$/top/党章党规/党章

// [tag:党章] [tag:组织制度]
::DZ-001::党的最高领导机关是（ ）。{
  =党的全国代表大会和它所产生的中央委员会
  ~中央政治局#不对，政治局是中央委员会选举产生的。
  ~中央书记处
  ~中央纪律检查委员会
  ####见《中国共产党章程》第十条。
}

::DZ-002::[html]<p>党的思想路线是一切从实际出发，理论联系实际，<b>实事求是</b>，在实践中检验真理和发展真理。<script>alert(1)</script></p>{T}

$CATEGORY: $course$/top/党章党规/纪律处分条例

::JL-001::根据《中国共产党纪律处分条例》，以下属于“六项纪律”的是{
  ~%50%政治纪律
  ~%50%组织纪律
  ~%-100%外事纪律
}

::JL-002:: 党员受到警告处分后一年内不得在党内提升职务。{FALSE####应为一年内。}

中国共产党第一次全国代表大会于{=1921 =1921年 =%50%1920}年召开。

::LL-001::谈谈你对“两个确立”决定性意义的理解。{}

::ESC::下列哪一项写法正确：\\{ 与 \\} 在 GIFT 中需要转义，3\\=3 也是{=a\\: b ~c\\~d ~e\\#f}
"""


def test_gift_every_type_comes_in_intact() -> None:
    questions = parse_questions("党章.gift", GIFT.encode("utf-8"))
    assert [q.content for q in questions] == [
        {
            "type": "single",
            "stem": "党的最高领导机关是（ ）。",
            "options": _options(
                "党的全国代表大会和它所产生的中央委员会", "中央政治局", "中央书记处", "中央纪律检查委员会"
            ),
            "correct": ["A"],
            "explanation": "见《中国共产党章程》第十条。",
        },
        {
            "type": "true_false",
            "stem": "党的思想路线是一切从实际出发，理论联系实际，实事求是，在实践中检验真理和发展真理。",
            "correct": True,
            "explanation": "",
        },
        {
            "type": "multiple",
            "stem": "根据《中国共产党纪律处分条例》，以下属于“六项纪律”的是",
            "options": _options("政治纪律", "组织纪律", "外事纪律"),
            "correct": ["A", "B"],
            "partial": "per_option",
            "explanation": "",
        },
        {
            "type": "true_false",
            "stem": "党员受到警告处分后一年内不得在党内提升职务。",
            "correct": False,
            "explanation": "应为一年内。",
        },
        {
            "type": "fill_blank",
            "stem": "中国共产党第一次全国代表大会于＿＿年召开。",
            "blanks": [["1921", "1921年"]],
            "explanation": "",
        },
        {
            "type": "short_answer",
            "stem": "谈谈你对“两个确立”决定性意义的理解。",
            "reference_answer": "",
            "explanation": "",
        },
        {
            "type": "single",
            "stem": "下列哪一项写法正确：{ 与 } 在 GIFT 中需要转义，3=3 也是",
            "options": _options("a: b", "c~d", "e#f"),
            "correct": ["A"],
            "explanation": "",
        },
    ]
    assert [q.category for q in questions] == ["党章党规/党章"] * 2 + ["党章党规/纪律处分条例"] * 5
    assert [q.external_id for q in questions] == [
        "DZ-001",
        "DZ-002",
        "JL-001",
        "JL-002",
        None,
        "LL-001",
        "ESC",
    ]
    assert [q.line for q in questions] == [5, 13, 17, 23, 25, 27, 29]
    assert questions[0].tags == ("党章", "组织制度")
    assert all(q.marks == Decimal(1) and q.difficulty is None for q in questions)
    assert all(check_content(q.content) == [] for q in questions)


def test_gift_errors_are_reported_with_the_question_line() -> None:
    text = "\n".join(
        [
            "// 第 1 行是注释",
            "::ok::党章是党的根本大法。{T}",
            "",
            "::unclosed::党的根本宗旨是{",  # line 4
            "=全心全意为人民服务",
            "~为人民服务",
            "",
            "// matching",
            "::match::把条例与发布年份对应起来。{",  # line 9
            "=《中国共产党章程》 -> 2022",
            "=《中国共产党纪律处分条例》 -> 2023",
            "}",
            "",
            "::num::党的二十大于哪一年召开？{#2022}",  # line 14
            "",
            "::two::两个正确答案？{=甲 =乙 ~丙}",  # line 16
            "",
            "没有答案块的题目。",  # line 18
        ]
    )
    assert _rejected("bad.txt", text.encode("utf-8")) == [
        RowError(4, "::unclosed::", "Unclosed { in the GIFT text."),
        RowError(9, "::match::", "Matching GIFT questions (->) are not supported."),
        RowError(14, "::num::", "Numerical GIFT questions ({#…}) are not supported."),
        RowError(16, "::two::", "A single-choice question needs exactly one correct option."),
        RowError(18, "", "This GIFT question has no answer block {…}."),
    ]


def test_gift_in_gb18030_with_crlf_line_ends() -> None:
    text = "::GB::党的根本宗旨是（ ）。\r\n{=全心全意为人民服务 =全心全意地为人民服务}\r\n"
    [question] = parse_questions("gb.txt", text.encode("gb18030"))
    assert question.content == {
        "type": "fill_blank",
        "stem": "党的根本宗旨是＿＿。",
        "blanks": [["全心全意为人民服务", "全心全意地为人民服务"]],
        "explanation": "",
    }


def test_gift_empty_or_comments_only_is_rejected() -> None:
    assert _rejected("a.gift", b"") == [RowError(0, "", "The file has no questions.")]
    assert _rejected("a.gift", "// 只有注释\n$CATEGORY: 党章\n".encode()) == [
        RowError(0, "", "The file has no questions.")
    ]


def test_gift_duplicate_titles_identify_nothing() -> None:
    text = "::同名::题一{T}\n\n::同名::题二{F}\n\n::唯一::题三{T}\n"
    assert [q.external_id for q in parse_questions("a.gift", text.encode())] == [None, None, "唯一"]


# --- Moodle XML ----------------------------------------------------------------------------------

MOODLE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
<!-- question: 0  -->
  <question type="category">
    <category><text>$course$/top/党章党规/纪律处分条例</text></category>
    <info format="moodle_auto_format"><text></text></info>
  </question>
  <question type="multichoice">
    <name><text>JL-001</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>《中国共产党纪律处分条例》规定的党纪处分有（&nbsp;&nbsp;）种。</p>]]></text>
    </questiontext>
    <generalfeedback format="html">
      <text><![CDATA[<p>警告、严重警告、撤销党内职务、<br>留党察看、开除党籍。</p>]]></text>
    </generalfeedback>
    <defaultgrade>1.0000000</defaultgrade>
    <penalty>0.3333333</penalty>
    <hidden>0</hidden>
    <single>true</single>
    <shuffleanswers>true</shuffleanswers>
    <answernumbering>ABCD</answernumbering>
    <answer fraction="0" format="html">
      <text>三</text><feedback format="html"><text></text></feedback>
    </answer>
    <answer fraction="100" format="html">
      <text>五</text><feedback format="html"><text>对</text></feedback>
    </answer>
    <answer fraction="0" format="html"><text>&lt;b&gt;六&lt;/b&gt;</text></answer>
    <tags><tag><text>纪律</text></tag><tag><text>处分</text></tag></tags>
  </question>
  <question type="multichoice">
    <name><text>JL-002</text></name>
    <questiontext format="html"><text><![CDATA[<p>下列属于“六项纪律”的有</p>]]></text></questiontext>
    <defaultgrade>2</defaultgrade>
    <single>false</single>
    <answer fraction="50"><text>政治纪律</text></answer>
    <answer fraction="50"><text>群众纪律</text></answer>
    <answer fraction="-100"><text>外事纪律</text></answer>
  </question>
  <question type="category">
    <category><text>$course$/top/理论学习</text></category>
  </question>
  <question type="truefalse">
    <name><text>LL-001</text></name>
    <questiontext format="moodle_auto_format"><text>“两个确立”是党在新时代取得的重大政治成果。
这一论断写入了党的二十大报告。</text></questiontext>
    <generalfeedback format="html"><text></text></generalfeedback>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
  <question type="shortanswer">
    <name><text>LL-002</text></name>
    <questiontext format="html"><text><![CDATA[中国共产党的根本宗旨是____。]]></text></questiontext>
    <answer fraction="100"><text>全心全意为人民服务</text></answer>
    <answer fraction="100"><text>全心全意地为人民服务</text></answer>
    <answer fraction="50"><text>为人民服务</text></answer>
  </question>
  <question type="essay">
    <name><text>LL-003</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>结合工作实际，谈谈如何做到“两个维护”。</p>]]></text>
    </questiontext>
    <defaultgrade>10.0000000</defaultgrade>
    <graderinfo format="html"><text><![CDATA[<ul><li>政治上</li><li>思想上</li></ul>]]></text></graderinfo>
  </question>
</quiz>
"""


def test_moodle_xml_every_type_comes_in_intact() -> None:
    questions = parse_questions("moodle.xml", MOODLE_XML.encode("utf-8"))
    assert [q.content for q in questions] == [
        {
            "type": "single",
            "stem": "《中国共产党纪律处分条例》规定的党纪处分有（ ）种。",
            "options": _options("三", "五", "六"),
            "correct": ["B"],
            "explanation": "警告、严重警告、撤销党内职务、\n留党察看、开除党籍。",
        },
        {
            "type": "multiple",
            "stem": "下列属于“六项纪律”的有",
            "options": _options("政治纪律", "群众纪律", "外事纪律"),
            "correct": ["A", "B"],
            "partial": "per_option",
            "explanation": "",
        },
        {
            "type": "true_false",
            "stem": "“两个确立”是党在新时代取得的重大政治成果。\n这一论断写入了党的二十大报告。",
            "correct": True,
            "explanation": "",
        },
        {
            "type": "fill_blank",
            "stem": "中国共产党的根本宗旨是____。",
            "blanks": [["全心全意为人民服务", "全心全意地为人民服务"]],
            "explanation": "",
        },
        {
            "type": "short_answer",
            "stem": "结合工作实际，谈谈如何做到“两个维护”。",
            "reference_answer": "政治上\n思想上",
            "explanation": "",
        },
    ]
    assert [q.category for q in questions] == ["党章党规/纪律处分条例"] * 2 + ["理论学习"] * 3
    assert [q.external_id for q in questions] == ["JL-001", "JL-002", "LL-001", "LL-002", "LL-003"]
    assert [q.marks for q in questions] == [Decimal(1), Decimal(2), Decimal(1), Decimal(1), Decimal(10)]
    assert [q.line for q in questions] == [8, 31, 43, 51, 58]
    assert questions[0].tags == ("纪律", "处分")
    assert all(check_content(q.content) == [] for q in questions)


def test_moodle_xml_not_well_formed_is_reported_at_the_parser_line() -> None:
    data = b'<?xml version="1.0"?>\n<quiz>\n  <question type="essay">\n    <name><text>x</name>\n</quiz>\n'
    assert _rejected("a.xml", data) == [RowError(4, "", "Not well-formed XML: a closing tag does not match.")]
    assert _rejected("a.xml", b"<quiz>\n<question>") == [
        RowError(2, "", "Not well-formed XML: the file ends before the document does.")
    ]
    assert _rejected("a.xml", b"<questions/>") == [
        RowError(1, "questions", "This is not a Moodle XML question file: the root element must be <quiz>.")
    ]
    assert _rejected("a.xml", b"  \n") == [RowError(0, "", "The file has no questions.")]
    assert _rejected("a.xml", b"<quiz></quiz>") == [RowError(0, "", "The file has no questions.")]


def test_moodle_xml_bad_questions_are_all_reported() -> None:
    data = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="matching">
    <name><text>连线</text></name>
  </question>
  <question type="multichoice">
    <questiontext format="html"><text>党的最高领导机关是？</text></questiontext>
    <single>true</single>
    <answer fraction="50"><text>甲</text></answer>
    <answer fraction="0"><text>乙</text></answer>
  </question>
  <question type="cloze">
    <questiontext><text>{1:SHORTANSWER:=党章}</text></questiontext>
  </question>
  <question type="shortanswer">
    <questiontext format="html"><text>根本宗旨是____。</text></questiontext>
    <defaultgrade>abc</defaultgrade>
    <answer fraction="0"><text>为人民服务</text></answer>
  </question>
</quiz>
""".encode()
    assert _rejected("a.xml", data) == [
        RowError(
            3,
            "matching",
            "This Moodle question type is not supported: only multichoice, truefalse, shortanswer and essay "
            "can be imported.",
        ),
        RowError(6, "answer", "A single-choice question needs exactly one correct option."),
        RowError(
            12,
            "cloze",
            "This Moodle question type is not supported: only multichoice, truefalse, shortanswer and essay "
            "can be imported.",
        ),
        RowError(15, "answer", "A fill-in-the-blank question needs at least one accepted answer per blank."),
        RowError(15, "defaultgrade", "Marks must be a positive number (at most 1000, two decimals)."),
    ]


def test_moodle_xml_doctype_and_entities_are_rejected_not_expanded() -> None:
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<quiz><question type="essay"><questiontext><text>&lol9;</text></questiontext></question></quiz>
"""
    assert _rejected("lol.xml", laughs) == [
        RowError(2, "", "XML with a DOCTYPE or entity declarations is not accepted.")
    ]
    external = b'<?xml version="1.0"?>\n<!DOCTYPE quiz SYSTEM "file:///etc/passwd">\n<quiz/>'
    assert _rejected("x.xml", external) == [
        RowError(2, "", "XML with a DOCTYPE or entity declarations is not accepted.")
    ]


# --- shared --------------------------------------------------------------------------------------


def _question(**content: object) -> ImportedQuestion:
    return ImportedQuestion(content, "", (), None, Decimal(1), None, 1)


def test_fingerprint_ignores_width_and_whitespace_but_not_content() -> None:
    base = _question(
        type="single",
        stem="党的最高领导机关是 A 项（ ）。",
        options=_options("党的全国代表大会", "中央政治局"),
        correct=["A"],
        explanation="",
    )
    spaced = replace(
        base,
        content=base.content
        | {
            "stem": " 党的最高领导机关是\u3000Ａ\t 项(\u3000)。\n",
            "options": _options("党的全国代表大会 ", "\n中央政治局"),
        },
        category="别的分类",
        line=99,
    )
    assert fingerprint(base) == fingerprint(spaced)
    assert len(fingerprint(base)) == 64
    other_answer = replace(base, content=base.content | {"correct": ["B"]})
    other_type = replace(base, content=base.content | {"type": "multiple", "partial": "all_or_nothing"})
    other_stem = replace(base, content=base.content | {"stem": "党的最高权力机关是（ ）。"})
    prints = {fingerprint(q) for q in (base, other_answer, other_type, other_stem)}
    assert len(prints) == 4


def test_html_to_text_drops_markup_and_scripts_and_keeps_breaks() -> None:
    markup = (
        "<div>第一行&amp;<br/>第二行</div><script>alert('x')</script><style>p{}</style>"
        "<p>  多个   空格\n换行 &lt;b&gt;</p><img src=x onerror=alert(1)>"
    )
    assert html_to_text(markup) == "第一行&\n第二行\n多个 空格 换行 <b>"
