"""Pure tests of the app-side Chinese analysis shared by both engines."""

from __future__ import annotations

from search.analysis import (
    MARK_END,
    MARK_START,
    MAX_QUERY_TERMS,
    VALUE_GAP,
    Term,
    char_tokens,
    mark_matches,
    normalize,
    query_terms,
    render_highlight,
    segment_document,
    word_tokens,
)
from search.documents import CourseDocument


def words(text: str) -> list[str | None]:
    return [term.word for term in query_terms(text)]


def test_normalize_folds_width_and_case_and_drops_controls() -> None:
    assert normalize("ＡＢＣ１２３，Python\x00\u200b\ue000") == "abc123,python   "


def test_char_tokens_split_han_and_keep_latin_runs() -> None:
    assert char_tokens("Python3数据分析 & C++入门") == ["python3", "数", "据", "分", "析", "c", "入", "门"]


def test_domain_terms_stay_whole() -> None:
    assert words("新时代党性教育专题培训") == ["新", "时代", "党性教育", "专题", "培训"]
    assert words("学习习近平新时代中国特色社会主义思想") == ["学习", "习近平新时代中国特色社会主义思想"]
    assert words("全面从严治党 乡村振兴 党的基本理论") == ["全面从严治党", "乡村振兴", "党的基本理论"]


def test_search_mode_indexes_sub_words_of_domain_terms() -> None:
    assert {"党性", "教育", "党性教育"} <= set(word_tokens("党性教育"))
    assert {"乡村", "振兴", "乡村振兴"} <= set(word_tokens("乡村振兴战略"))


def test_query_terms_carry_their_characters() -> None:
    assert query_terms("党性教育") == (Term(("党", "性", "教", "育"), "党性教育"),)
    assert query_terms("村") == (Term(("村",), "村"),)


def test_query_syntax_is_just_punctuation() -> None:
    assert words('"党性教育" AND (作风:建设)* OR ~^') == ["党性教育", "作风", "建设"]
    assert query_terms('"*()[]{}:\\/~^') == ()
    assert query_terms("   ") == ()


def test_stopwords_go_unless_nothing_else_is_left() -> None:
    assert words("党性与作风") == ["党性", "作风"]
    assert words("and or") == ["and", "or"]


def test_long_queries_are_cut() -> None:
    assert len(query_terms("党" * 10_000)) == 1
    assert len(query_terms(" ".join(f"词{n}" for n in range(1_000)))) == MAX_QUERY_TERMS


def test_mixed_tokens_have_no_word() -> None:
    assert query_terms("c++") == (Term(("c",), None),)


def test_segment_document_separates_values() -> None:
    doc = CourseDocument(id="x", title="党性教育", tags=("理想", "信念"), teachers=("王建国",))
    segmented = segment_document(doc)
    assert segmented["title_chars"] == "党 性 教 育"
    assert segmented["tags_chars"] == f"理 想 {VALUE_GAP} 信 念"  # no phrase 想信 across two tags
    assert "党性教育" in segmented["title_words"].split()
    assert segmented["summary_chars"] == segmented["lessons_chars"] == ""
    fields = ("title", "tags", "teachers", "summary", "lessons")
    assert set(segmented) == {f"{field}_{kind}" for field in fields for kind in ("chars", "words")}


def test_mark_matches_maps_back_to_the_original_text() -> None:
    terms = query_terms("python 教育")
    assert mark_matches("Ｐｙｔｈｏｎ与党性教育", terms) == (
        f"{MARK_START}Ｐｙｔｈｏｎ{MARK_END}与党性{MARK_START}教育{MARK_END}"
    )
    assert mark_matches("pythonic", terms) is None  # whole tokens only
    assert mark_matches("乡村振兴", terms) is None


def test_overlapping_and_touching_marks_merge() -> None:
    marked = mark_matches("党性教育", query_terms("党性 性教 教育"))
    assert render_highlight(marked or "") == "<em>党性教育</em>"


def test_render_highlight_escapes_html() -> None:
    assert render_highlight(f"<b>&{MARK_START}x{MARK_END}\"'") == "&lt;b&gt;&amp;<em>x</em>&quot;&#x27;"
