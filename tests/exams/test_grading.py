"""The pure grading core: every rule with its edge cases, what the browser may see, answer cleaning, and
item statistics against an independent computation."""

from __future__ import annotations

import json
import statistics
from decimal import Decimal

import pytest

from lms.exams.grading import (
    Grade,
    ItemStats,
    blank_shares,
    grade,
    item_statistics,
    normalize_text,
    public_content,
    review_content,
    validate_answer_shape,
)

D = Decimal
OPTIONS = [{"key": k, "text": f"选项{k}"} for k in "ABCD"]

SINGLE = {
    "type": "single",
    "stem": "党的根本宗旨是？",
    "options": OPTIONS,
    "correct": ["B"],
    "explanation": "为人民服务",
}
TRUE_FALSE = {
    "type": "true_false",
    "stem": "党章是最根本的党内法规。",
    "correct": True,
    "explanation": "判断解析",
}
FILL = {
    "type": "fill_blank",
    "stem": "党的思想路线是一切从实际出发，理论联系实际，＿＿，在实践中检验真理和发展真理。",
    "blanks": [["实事求是", "实事 求是"]],
    "explanation": "党章总纲",
}
FILL3 = {
    "type": "fill_blank",
    "stem": "{{1}}、{{2}}、{{3}}",
    "blanks": [["ABC", "甲乙丙"], ["民主集中制"], ["Four Comprehensives", "四个全面"]],
    "explanation": "三空解析",
}
SHORT = {
    "type": "short_answer",
    "stem": "谈谈你对全面从严治党的理解。",
    "reference_answer": "要点：……",
    "explanation": "评分要点",
}


def multiple(partial: str | None = None, correct=("A", "C", "D")) -> dict:
    content = {
        "type": "multiple",
        "stem": "下列哪些…",
        "options": OPTIONS,
        "correct": list(correct),
        "explanation": "多选解析",
    }
    if partial is not None:
        content["partial"] = partial
    return content


ALL_CONTENTS = [SINGLE, multiple("miss_half"), TRUE_FALSE, FILL, FILL3, SHORT]


# --- normalize_text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ＡＢＣ", "abc"),
        ("ａｂｃ", "ABC"),
        ("１２３", "123"),
        ("实事求是\u3000", "实事求是"),  # 全角空格 at the end
        ("\u3000 实事求是 ", "实事求是"),
        ("实事\u3000求是", "实事求是"),  # a space between two CJK characters is dropped
        ("new   york", "New York"),  # runs of spaces collapse, Latin words keep one
        ("甲、乙", "甲，乙"),
        ("甲，乙", "甲,乙"),
        ("“两个确立”", '"两个确立"'),
        ("「两个维护」", '"两个维护"'),
        ("《中国共产党章程》", "<中国共产党章程>"),
        ("（一）", "(一)"),
        ("马克思—列宁主义", "马克思-列宁主义"),
        ("Straße", "STRASSE"),  # casefold, not lower
    ],
)
def test_normalize_text_folds_variants(typed: str, stored: str) -> None:
    assert normalize_text(typed) == normalize_text(stored)


def test_normalize_text_keeps_real_differences() -> None:
    assert normalize_text("实事求是") != normalize_text("实事求")
    assert normalize_text("new york") != normalize_text("newyork")
    assert normalize_text("  A  b ") == "a b"
    assert normalize_text(None) == ""  # type: ignore[arg-type]


# --- single / true_false ---------------------------------------------------------------------------------


def test_single_all_or_nothing() -> None:
    assert grade(SINGLE, {"choice": "B"}, D(2)) == Grade(
        D("2.00"), D("2.00"), True, {"chosen": "B", "correct": ["B"]}
    )
    wrong = grade(SINGLE, {"choice": "A"}, D(2))
    assert (wrong.score, wrong.correct, wrong.detail["chosen"]) == (D("0.00"), False, "A")


def test_single_accepts_lowercase_and_full_width_keys() -> None:
    assert grade(SINGLE, {"choice": "b"}, D(1)).correct is True
    assert grade(SINGLE, {"choice": "Ｂ"}, D(1)).correct is True


def test_true_false() -> None:
    assert grade(TRUE_FALSE, {"value": True}, D(1)).score == D("1.00")
    assert grade(TRUE_FALSE, {"value": False}, D(1)).score == D("0.00")
    false_q = {**TRUE_FALSE, "correct": False}
    assert grade(false_q, {"value": False}, D(1)).correct is True
    # no answer is not "false"
    assert grade(false_q, {"value": None}, D(1)).correct is False
    assert grade(false_q, None, D(1)).score == D("0.00")
    # 0 is not False
    assert grade(false_q, {"value": 0}, D(1)).score == D("0.00")


# --- multiple --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partial", "choices", "score"),
    [
        # all_or_nothing (also the default and what an unknown rule falls back to)
        ("all_or_nothing", ["A", "C", "D"], "2.00"),
        ("all_or_nothing", ["D", "C", "A"], "2.00"),
        ("all_or_nothing", ["A", "C"], "0.00"),
        ("all_or_nothing", ["A", "B", "C", "D"], "0.00"),
        (None, ["A", "C"], "0.00"),
        ("something else", ["A", "C"], "0.00"),
        # miss_half: a non-empty strict subset without a wrong key gets half
        ("miss_half", ["A", "C", "D"], "2.00"),
        ("miss_half", ["A", "C"], "1.00"),
        ("miss_half", ["D"], "1.00"),
        ("miss_half", ["A", "B"], "0.00"),
        ("miss_half", ["A", "B", "C", "D"], "0.00"),
        ("miss_half", ["B"], "0.00"),
        ("miss_half", [], "0.00"),
        # per_option: +2/3 per right key, -2/3 per wrong key, floor 0
        ("per_option", ["A", "C", "D"], "2.00"),
        ("per_option", ["A", "C"], "1.33"),
        ("per_option", ["A"], "0.67"),
        ("per_option", ["A", "C", "B"], "0.67"),
        ("per_option", ["A", "C", "D", "B"], "1.33"),
        ("per_option", ["A", "B"], "0.00"),
        ("per_option", ["B"], "0.00"),
        ("per_option", ["A", "B", "E", "F"], "0.00"),  # floor at 0, never negative
        ("per_option", [], "0.00"),
    ],
)
def test_multiple_partial_rules(partial: str | None, choices: list[str], score: str) -> None:
    g = grade(multiple(partial), {"choices": choices}, D(2))
    assert g.score == D(score)
    assert g.correct is (sorted(choices) == ["A", "C", "D"])
    assert D(0) <= g.score <= g.max_score


def test_multiple_detail_is_sorted_and_json_safe() -> None:
    g = grade(multiple("per_option"), {"choices": ["c", "A", "C"]}, D(2))
    assert g.detail == {"chosen": ["A", "C"], "correct": ["A", "C", "D"], "partial": "per_option"}
    json.dumps(g.detail)


def test_miss_half_of_odd_marks_is_rounded() -> None:
    assert grade(multiple("miss_half"), {"choices": ["A"]}, D("1.25")).score == D("0.63")
    assert grade(multiple("miss_half"), {"choices": ["A"]}, D("0.01")).score == D("0.01")


# --- fill_blank ------------------------------------------------------------------------------------------


def test_fill_blank_full_width_and_spaces_match() -> None:
    assert grade(FILL, {"blanks": ["实事求是\u3000"]}, D(1)).correct is True
    assert grade(FILL, {"blanks": [" 实事求是 "]}, D(1)).score == D("1.00")
    assert grade(FILL, {"blanks": ["实事求"]}, D(1)).score == D("0.00")


def test_fill_blank_rounding_three_blanks() -> None:
    assert blank_shares(D(1), 3) == [D("0.33"), D("0.33"), D("0.34")]
    assert sum(blank_shares(D(2), 3)) == D(2)
    assert blank_shares(D("0.05"), 10)[-1] == D("0.05")
    both_first = grade(FILL3, {"blanks": ["ＡＢＣ", "民主集中制", "wrong"]}, D(1))
    assert (both_first.score, both_first.correct, both_first.detail) == (
        D("0.66"),
        False,
        {"blanks": [True, True, False]},
    )
    last_only = grade(FILL3, {"blanks": ["", "", "four  comprehensives"]}, D(1))
    assert last_only.score == D("0.34")
    full = grade(FILL3, {"blanks": ["甲乙丙", "民主集中制", "四个全面"]}, D(1))
    assert (full.score, full.correct) == (D("1.00"), True)


def test_fill_blank_fewer_or_more_answers_than_blanks() -> None:
    assert grade(FILL3, {"blanks": ["abc"]}, D(3)).score == D("1.00")
    assert grade(FILL3, {"blanks": ["abc", "民主集中制", "四个全面", "extra"]}, D(3)).score == D("3.00")


def test_fill_blank_empty_accepted_answer_never_matches_empty_input() -> None:
    content = {**FILL, "blanks": [["", "　"]]}
    assert grade(content, {"blanks": ["\u3000"]}, D(1)).score == D("0.00")


# --- short_answer ----------------------------------------------------------------------------------------


def test_short_answer_needs_a_teacher() -> None:
    g = grade(SHORT, {"text": "全面从严治党是……"}, D(10))
    assert (g.score, g.max_score, g.correct) == (None, D("10.00"), None)
    assert g.detail == {"manual": True, "answered": True}
    assert grade(SHORT, None, D(10)).detail["answered"] is False


# --- malformed answers -----------------------------------------------------------------------------------

MALFORMED = [
    None,
    {},
    [],
    "B",
    42,
    {"choice": 1},
    {"choice": ["B"]},
    {"choices": "ACD"},
    {"choices": [1, 2]},
    {"choices": ["A", "Z"]},
    {"value": "true"},
    {"blanks": "实事求是"},
    {"blanks": [1]},
    {"blanks": ["x"] * 21},
    {"blanks": ["实事求是" * 600]},
    {"text": 5},
    {"choice": "B", "choices": None, "value": None, "blanks": {}, "text": None},  # nonsense across types
]


@pytest.mark.parametrize("answer", MALFORMED, ids=range(len(MALFORMED)))
@pytest.mark.parametrize("content", ALL_CONTENTS[:-1], ids=lambda c: c["type"])
def test_malformed_answers_score_zero(content: dict, answer: object) -> None:
    if content["type"] == "single" and answer == MALFORMED[-1]:
        return  # {"choice": "B"} is a real answer to the single question
    g = grade(content, answer, D(2))  # type: ignore[arg-type]
    assert g.score == D("0.00")
    assert g.correct is False


@pytest.mark.parametrize("answer", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_short_answer_is_still_manual(answer: object) -> None:
    g = grade(SHORT, answer, D(2))  # type: ignore[arg-type]
    assert (g.score, g.correct) == (None, None)


def test_broken_content_raises() -> None:
    with pytest.raises(ValueError, match="unknown question type"):
        grade({"type": "essay"}, None, D(1))
    with pytest.raises(ValueError, match="correct"):
        grade({**SINGLE, "correct": []}, {"choice": "B"}, D(1))
    with pytest.raises(ValueError, match="blanks"):
        grade({**FILL, "blanks": []}, None, D(1))
    with pytest.raises(ValueError, match="negative"):
        grade(SINGLE, None, D(-1))


@pytest.mark.parametrize("content", ALL_CONTENTS[:-1], ids=lambda c: c["type"])
@pytest.mark.parametrize("marks", [D(0), D("0.01"), D(1), D("2.5"), D("3.333"), D(100)])
def test_scores_stay_within_marks(content: dict, marks: Decimal) -> None:
    answers = [
        {"choice": "B"},
        {"choices": ["A", "C", "D"]},
        {"choices": ["A"]},
        {"value": True},
        {"blanks": ["实事求是"]},
        {"blanks": ["abc", "民主集中制", "四个全面"]},
        {"blanks": ["abc"]},
    ]
    for answer in answers:
        g = grade(content, answer, marks)
        assert D(0) <= g.score <= g.max_score == marks.quantize(D("0.01"))
        assert g.score == g.score.quantize(D("0.01"))


# --- public / review content -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", ALL_CONTENTS, ids=lambda c: c["type"])
def test_public_content_hides_every_answer(content: dict) -> None:
    public = public_content(content)
    text = json.dumps(public, ensure_ascii=False)
    for field in ("correct", "explanation", "reference_answer", "partial", "blanks"):
        assert f'"{field}"' not in text
    for blank in content.get("blanks", []):
        for accepted in blank:
            assert accepted not in text
    assert content["explanation"] not in text
    if "reference_answer" in content:
        assert content["reference_answer"] not in text
    assert public["type"] == content["type"]
    assert public["stem"] == content["stem"]


def test_public_content_shapes() -> None:
    assert public_content(SINGLE)["options"] == OPTIONS
    assert public_content({**SINGLE, "options": [{"key": "A", "text": "t", "correct": True}]})["options"] == [
        {"key": "A", "text": "t"}
    ]
    assert public_content(FILL3)["blank_count"] == 3
    assert "options" not in public_content(TRUE_FALSE)
    assert set(public_content({**SHORT, "future_field": "x"})) == {"type", "stem"}


def test_review_content() -> None:
    assert review_content(FILL3) == FILL3
    assert review_content(FILL3) is not FILL3
    hidden = review_content(multiple("per_option"), show_correct=False, show_explanation=False)
    assert {"correct", "partial", "explanation"}.isdisjoint(hidden)
    assert review_content(FILL3, show_correct=False)["blank_count"] == 3
    assert "reference_answer" not in review_content(SHORT, show_correct=False)
    assert review_content(SHORT, show_explanation=False)["reference_answer"] == SHORT["reference_answer"]


# --- validate_answer_shape -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qtype", "answer", "clean"),
    [
        ("single", {"choice": "C"}, {"choice": "C"}),
        ("single", {"choice": " c ", "extra": 1}, {"choice": "C"}),
        ("single", {"choice": "Ｈ"}, {"choice": "H"}),
        ("single", {"choice": None}, {"choice": None}),
        ("single", {"choice": ""}, {"choice": None}),
        ("single", {}, {"choice": None}),
        ("single", {"choice": "I"}, None),
        ("single", {"choice": "AB"}, None),
        ("single", {"choice": 1}, None),
        ("multiple", {"choices": ["D", "a", "A", "b"]}, {"choices": ["A", "B", "D"]}),
        ("multiple", {"choices": []}, {"choices": []}),
        ("multiple", {}, {"choices": []}),
        ("multiple", {"choices": list("ABCDEFGH")}, {"choices": list("ABCDEFGH")}),
        ("multiple", {"choices": ["A", "I"]}, None),
        ("multiple", {"choices": "AB"}, None),
        ("multiple", {"choices": ["A"] * 17}, None),
        ("true_false", {"value": False}, {"value": False}),
        ("true_false", {"value": None}, {"value": None}),
        ("true_false", {"value": 1}, None),
        ("true_false", {"value": "false"}, None),
        ("fill_blank", {"blanks": ["a", None, "c"]}, {"blanks": ["a", "", "c"]}),
        ("fill_blank", {"blanks": ["x"] * 20}, {"blanks": ["x"] * 20}),
        ("fill_blank", {"blanks": ["x"] * 21}, None),
        ("fill_blank", {"blanks": ["x" * 2000]}, {"blanks": ["x" * 2000]}),
        ("fill_blank", {"blanks": ["x" * 2001]}, None),
        ("fill_blank", {"blanks": [["x"]]}, None),
        ("fill_blank", {"blanks": "x"}, None),
        ("short_answer", {"text": "a\r\nb\x00"}, {"text": "a\nb"}),
        ("short_answer", {"text": "字" * 2000}, {"text": "字" * 2000}),
        ("short_answer", {"text": "字" * 2001}, None),
        ("short_answer", {}, {"text": ""}),
        ("short_answer", {"text": ["x"]}, None),
        ("short_answer", "just text", None),
        ("short_answer", None, None),
    ],
)
def test_validate_answer_shape(qtype: str, answer: object, clean: dict | None) -> None:
    assert validate_answer_shape(qtype, answer) == clean


def test_validate_answer_shape_unknown_type_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown question type"):
        validate_answer_shape("essay", {"text": "x"})


# --- item statistics -------------------------------------------------------------------------------------


def test_item_statistics_hand_example() -> None:
    rows = [
        (D(2), D(2), D(9)),
        (D(2), D(2), D(8)),
        (D(1), D(2), D(5)),
        (D(0), D(2), D(6)),
        (D(0), D(2), D(2)),
    ]
    stats = item_statistics(rows)
    assert stats.attempts == 5
    assert stats.facility == pytest.approx((1 + 1 + 0.5 + 0 + 0) / 5)
    item = [2, 2, 1, 0, 0]
    rest = [7, 6, 4, 6, 2]
    assert stats.discrimination == pytest.approx(statistics.correlation(item, rest))
    # by hand: mean item 1, mean rest 5; deviations (1, 1, 0, -1, -1) and (2, 1, -1, 1, -3):
    # sxy = 2 + 1 + 0 - 1 + 3 = 5, sxx = 4, syy = 4 + 1 + 1 + 1 + 9 = 16, r = 5 / 8
    assert stats.discrimination == pytest.approx(0.625)


def test_item_statistics_negative_discrimination() -> None:
    rows = [(D(1), D(1), D(1)), (D(1), D(1), D(3)), (D(0), D(1), D(9)), (D(0), D(1), D(7))]
    stats = item_statistics(rows)
    assert stats.discrimination == pytest.approx(statistics.correlation([1, 1, 0, 0], [0, 2, 9, 7]))
    assert stats.discrimination < 0


def test_item_statistics_none_cases() -> None:
    assert item_statistics([]) == ItemStats(None, None, 0)
    assert item_statistics([(D(1), D(2), D(5))]) == ItemStats(0.5, None, 1)
    # everyone scored the same on the item: no variance
    same = [(D("0.1"), D(1), D(t)) for t in ("3.1", "4.1", "5.1")]
    stats = item_statistics(same)
    assert (stats.facility, stats.discrimination, stats.attempts) == (pytest.approx(0.1), None, 3)
    # the rest of the attempt is constant
    assert item_statistics([(D(1), D(1), D(5)), (D(0), D(1), D(4))]).discrimination is None
    # rows worth nothing are ignored
    assert item_statistics([(D(0), D(0), D(5)), (D(1), D(2), D(5))]) == ItemStats(0.5, None, 1)
