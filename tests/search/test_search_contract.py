"""The contract every SearchEngine keeps: the same assertions on the embedded engine and on Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from search import CourseDocument, SearchEngine, SearchError, SearchQuery

PROVINCE, CITY, COUNTY_A, COUNTY_A_UNIT, COUNTY_B, OTHER_CITY = (
    "/1/",
    "/1/2/",
    "/1/2/3/",
    "/1/2/3/7/",
    "/1/2/4/",
    "/1/5/",
)
ALL_IDS = {f"c{n:02}" for n in range(1, 13)}
PROVINCE_WIDE = {"c01", "c02", "c03", "c06", "c09", "c10", "c11"}


def ids(engine: SearchEngine, text: str = "", **params: object) -> list[str]:
    return [hit.id for hit in engine.search(SearchQuery(text, per_page=100, **params)).hits]  # type: ignore[arg-type]


# --- text ---------------------------------------------------------------------------------------------


def test_domain_term_finds_party_spirit_courses_first(catalog: SearchEngine) -> None:
    found = ids(catalog, "党性教育")
    assert set(found[:2]) == {"c01", "c02"}  # in title and tags
    assert set(found) == {"c01", "c02", "c06"}  # c06 only in its summary
    assert "c04" not in found  # 党性修养 and 党的… are not 党性教育


def test_single_character_matches_inside_words(catalog: SearchEngine) -> None:
    assert ids(catalog, "村") == ["c05"]
    assert set(ids(catalog, "党")) >= {"c01", "c02", "c03", "c04", "c06"}


def test_teacher_name(catalog: SearchEngine) -> None:
    assert set(ids(catalog, "王建国")) == {"c01", "c03", "c12"}


def test_summary_and_lesson_phrases(catalog: SearchEngine) -> None:
    assert ids(catalog, "风险防范") == ["c08"]
    assert ids(catalog, "初心使命") == ["c01"]


def test_every_term_must_match(catalog: SearchEngine) -> None:
    assert set(ids(catalog, "党性教育 作风")) == {"c02"}
    assert ids(catalog, "党性教育 乡村") == []


@pytest.mark.parametrize("text", ["python", "PYTHON", "Ｐｙｔｈｏｎ", "python 入门"])
def test_latin_text_is_case_and_width_insensitive(catalog: SearchEngine, text: str) -> None:
    assert ids(catalog, text) == ["c11"]


def test_highlights_mark_whole_matches_and_escape_html(catalog: SearchEngine) -> None:
    hits = {hit.id: hit for hit in catalog.search(SearchQuery("党性教育")).hits}
    assert hits["c01"].highlights == {"title": "新时代<em>党性教育</em>专题培训"}
    assert (
        hits["c02"].highlights["summary"]
        == "结合典型案例，讲授<em>党性教育</em>的基本要求和作风建设的实践路径。"
    )
    assert set(hits["c06"].highlights) == {"summary"}
    [python] = catalog.search(SearchQuery("python")).hits
    assert python.highlights == {
        "title": "<em>Python</em>数据分析入门",
        "summary": "<em>Python</em> &amp; pandas &lt;入门&gt;：用数据支撑科学决策。",
    }


def test_hits_carry_what_a_result_list_shows(catalog: SearchEngine) -> None:
    [python] = catalog.search(SearchQuery("python")).hits
    assert (python.title, python.kind, python.hours, python.duration_s, python.tags) == (
        "Python数据分析入门",
        "video",
        1.0,
        3000,
        ("数字技能",),
    )
    [safety] = catalog.search(SearchQuery("安全生产")).hits  # c08: no hours, no duration
    assert (safety.title, safety.kind, safety.hours, safety.duration_s, safety.tags) == (
        "应急管理与安全生产",
        "audio",
        0.0,
        0,
        ("应急管理", "安全生产"),
    )


def test_no_highlights_without_text(catalog: SearchEngine) -> None:
    assert all(hit.highlights == {} for hit in catalog.search(SearchQuery()).hits)


# --- hostile and empty input --------------------------------------------------------------------------


def test_empty_text_matches_everything(catalog: SearchEngine) -> None:
    assert catalog.search(SearchQuery("")).total == 12
    assert catalog.search(SearchQuery("   \t")).total == 12


@pytest.mark.parametrize(
    "text",
    [
        "党" * 10_000,
        "x" * 10_000,
        '"*()[]{}:\\/~^ AND OR NOT',
        '党性教育" OR "1=1',
        "title:党性 AND (教育 OR *)",
        "党性教育*~2^3",
        "\x00\u200b\ue000",
        "<script>alert(1)</script>",
        "'; DROP TABLE courses; --",
        "{title_chars}: 党",
        "NEAR(党 性)",
    ],
)
def test_hostile_text_never_fails(catalog: SearchEngine, text: str) -> None:
    result = catalog.search(SearchQuery(text))
    assert result.total >= 0
    assert catalog.count() == 12


def test_syntax_characters_are_ignored(catalog: SearchEngine) -> None:
    assert set(ids(catalog, '"党性教育"')) == set(ids(catalog, "党性教育"))
    assert set(ids(catalog, "党性教育*")) == set(ids(catalog, "党性教育"))
    assert set(ids(catalog, "党性教育 AND 作风")) == {"c02"}  # AND is a stopword, not an operator
    assert catalog.search(SearchQuery('"*()[]{}:\\/~^')).total == 0  # nothing searchable: no match


# --- filters and facets -------------------------------------------------------------------------------


def test_filters(catalog: SearchEngine) -> None:
    assert set(ids(catalog, filters={"category": ["党性教育"]})) == {"c01", "c02", "c06", "c12"}
    assert set(ids(catalog, filters={"kind": ["audio", "micro"]})) == {"c02", "c06", "c08", "c09"}
    assert set(ids(catalog, filters={"tags": ["乡村振兴"]})) == {"c05"}
    assert set(ids(catalog, filters={"teacher": ["李红梅"]})) == {"c02", "c09"}
    assert ids(catalog, filters={"category": ["理论教育"], "teacher": ["王建国"]}) == ["c03"]
    assert set(ids(catalog, "理想信念", filters={"category": ["党性教育"]})) == {"c01", "c12"}


def test_facets_without_selection(catalog: SearchEngine) -> None:
    facets = catalog.search(SearchQuery()).facets
    assert facets["category"] == [("党性教育", 4), ("履职能力", 3), ("理论教育", 3), ("知识拓展", 2)]
    assert facets["kind"] == [("video", 8), ("audio", 2), ("micro", 2)]
    assert facets["teacher"][:3] == [("王建国", 3), ("张卫东", 2), ("李红梅", 2)]
    assert facets["tags"][:2] == [("党性教育", 2), ("理想信念", 2)]


def test_multi_select_facets_ignore_their_own_selection(catalog: SearchEngine) -> None:
    result = catalog.search(SearchQuery(filters={"category": ["党性教育"]}))
    assert {hit.id for hit in result.hits} == {"c01", "c02", "c06", "c12"}
    # other categories still offered, with counts as if the category were not chosen
    assert result.facets["category"] == [("党性教育", 4), ("履职能力", 3), ("理论教育", 3), ("知识拓展", 2)]
    # the other facets count within the selection
    assert result.facets["kind"] == [("video", 2), ("audio", 1), ("micro", 1)]
    assert result.facets["teacher"] == [("王建国", 2), ("李红梅", 1), ("陈静", 1)]

    both = catalog.search(SearchQuery(filters={"category": ["党性教育"], "kind": ["video"]}))
    assert {hit.id for hit in both.hits} == {"c01", "c12"}
    assert both.facets["category"] == [("党性教育", 2), ("履职能力", 2), ("理论教育", 2), ("知识拓展", 2)]
    assert both.facets["kind"] == [("video", 2), ("audio", 1), ("micro", 1)]


def test_facets_follow_text_and_visibility(catalog: SearchEngine) -> None:
    result = catalog.search(SearchQuery("党性教育", visible_to_paths=[COUNTY_B]))
    assert result.facets["kind"] == [("audio", 1), ("micro", 1), ("video", 1)]
    county_b = catalog.search(SearchQuery(visible_to_paths=[COUNTY_B])).facets["category"]
    assert dict(county_b) == {"党性教育": 3, "理论教育": 3, "履职能力": 1, "知识拓展": 2}


def test_range_facets_keep_their_bucket_order(catalog: SearchEngine) -> None:
    facets = catalog.search(SearchQuery()).facets
    assert list(facets) == ["category", "kind", "teacher", "tags", "hours", "duration"]
    # bounds are inclusive above (0.5 h is "<=0.5", 4 h is "2-4"); 0 (c08: not set) is in no bucket
    assert facets["hours"] == [("<=0.5", 3), ("0.5-1", 2), ("1-2", 3), ("2-4", 2), (">4", 1)]
    assert facets["duration"] == [("<=15min", 2), ("15-30min", 2), ("30-60min", 4), (">60min", 3)]


def test_range_filters(catalog: SearchEngine) -> None:
    assert set(ids(catalog, filters={"hours": ["<=0.5"]})) == {"c02", "c06", "c09"}
    assert set(ids(catalog, filters={"hours": ["<=0.5", ">4"]})) == {"c02", "c04", "c06", "c09"}
    assert set(ids(catalog, filters={"duration": ["<=15min"]})) == {"c02", "c06"}  # micro-lessons
    assert set(ids(catalog, filters={"hours": ["1-2"], "duration": [">60min"]})) == {"c01", "c12"}
    assert ids(catalog, "党性教育", filters={"hours": ["1-2"], "kind": ["video"]}) == ["c01"]


def test_range_facets_are_multi_select_and_leave_out_empty_buckets(catalog: SearchEngine) -> None:
    result = catalog.search(SearchQuery(filters={"hours": ["<=0.5"]}))
    assert result.facets["hours"] == [("<=0.5", 3), ("0.5-1", 2), ("1-2", 3), ("2-4", 2), (">4", 1)]
    assert result.facets["duration"] == [("<=15min", 2), ("15-30min", 1)]
    assert result.facets["kind"] == [("micro", 2), ("audio", 1)]
    narrowed = catalog.search(SearchQuery(filters={"hours": ["<=0.5"], "kind": ["micro"]}))
    assert {hit.id for hit in narrowed.hits} == {"c06", "c09"}
    assert narrowed.facets["hours"] == [("<=0.5", 2)]  # the micro-lessons are all short
    assert narrowed.facets["kind"] == [("micro", 2), ("audio", 1)]
    assert narrowed.facets["duration"] == [("<=15min", 1), ("15-30min", 1)]
    province = catalog.search(SearchQuery(visible_to_paths=[PROVINCE], facet_size=2)).facets
    assert province["hours"] == [("<=0.5", 3), ("0.5-1", 1)]


def test_facet_size(catalog: SearchEngine) -> None:
    assert catalog.search(SearchQuery(facet_size=1)).facets["kind"] == [("video", 8)]


def test_nothing_searchable_gives_empty_facets(catalog: SearchEngine) -> None:
    result = catalog.search(SearchQuery("???"))
    assert (result.total, result.hits) == (0, [])
    assert result.facets == {
        name: [] for name in ("category", "kind", "teacher", "tags", "hours", "duration")
    }


# --- visibility ---------------------------------------------------------------------------------------


def test_county_course_is_hidden_from_another_county(catalog: SearchEngine) -> None:
    assert "c05" not in ids(catalog, visible_to_paths=[COUNTY_B])
    assert ids(catalog, "乡村振兴", visible_to_paths=[COUNTY_B]) == []
    assert ids(catalog, "乡村振兴", visible_to_paths=[COUNTY_A_UNIT]) == ["c05"]


def test_visibility_by_subtree(catalog: SearchEngine) -> None:
    assert set(ids(catalog, visible_to_paths=[PROVINCE])) == PROVINCE_WIDE
    assert set(ids(catalog, visible_to_paths=[CITY])) == PROVINCE_WIDE | {"c04"}
    assert set(ids(catalog, visible_to_paths=[COUNTY_A])) == PROVINCE_WIDE | {"c04", "c05"}
    assert set(ids(catalog, visible_to_paths=[COUNTY_A_UNIT])) == PROVINCE_WIDE | {"c04", "c05", "c12"}
    assert set(ids(catalog, visible_to_paths=[COUNTY_B])) == PROVINCE_WIDE | {"c04", "c07"}
    assert set(ids(catalog, visible_to_paths=[OTHER_CITY + "6/"])) == PROVINCE_WIDE | {"c08"}
    assert set(ids(catalog, visible_to_paths=[COUNTY_B, OTHER_CITY])) == PROVINCE_WIDE | {"c04", "c07", "c08"}


def test_visibility_matches_whole_segments(catalog: SearchEngine) -> None:
    assert set(ids(catalog, visible_to_paths=["/1/20/"])) == PROVINCE_WIDE  # /1/2/ is not a prefix of /1/20/
    assert ids(catalog, visible_to_paths=["/9/"]) == []
    assert ids(catalog, visible_to_paths=[]) == []  # no org: only courses for "/" (none here)
    assert set(ids(catalog)) == ALL_IDS  # unrestricted


# --- sorting and paging -------------------------------------------------------------------------------


def test_sorts(catalog: SearchEngine) -> None:
    assert ids(catalog, sort="newest") == [
        "c10", "c01", "c05", "c07", "c02", "c03", "c06", "c04", "c08", "c11", "c12", "c09",
    ]  # fmt: skip
    assert ids(catalog, sort="popularity") == [
        "c03", "c01", "c04", "c06", "c11", "c08", "c02", "c10", "c05", "c07", "c12", "c09",
    ]  # fmt: skip
    assert ids(catalog, sort="rating")[:6] == [
        "c03",
        "c01",
        "c06",
        "c04",
        "c12",
        "c02",
    ]  # 4.6 tie: popularity


def test_relevance_without_text_is_newest_first(catalog: SearchEngine) -> None:
    assert ids(catalog) == ids(catalog, sort="newest")


def test_scores_only_for_relevance(catalog: SearchEngine) -> None:
    assert all(hit.score is not None for hit in catalog.search(SearchQuery("党性")).hits)
    assert all(hit.score is None for hit in catalog.search(SearchQuery("党性", sort="rating")).hits)


def test_pagination(catalog: SearchEngine) -> None:
    everything = ids(catalog, sort="popularity")
    pages = [catalog.search(SearchQuery(sort="popularity", page=page, per_page=5)) for page in (1, 2, 3, 4)]
    assert [[hit.id for hit in page.hits] for page in pages] == [
        everything[:5],
        everything[5:10],
        everything[10:],
        [],
    ]
    assert {page.total for page in pages} == {12}


# --- writes -------------------------------------------------------------------------------------------


def test_index_and_count(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    assert engine.count() == 0
    assert engine.index([course("x1"), course("x2")]) == 2
    engine.refresh()
    assert engine.count() == 2
    assert engine.ensure_index() is False  # idempotent, keeps the data
    assert engine.count() == 2


def test_reindexing_replaces_the_document(
    engine: SearchEngine, course: Callable[..., CourseDocument]
) -> None:
    engine.index([course("x1", title="乡村振兴", tags=("乡村振兴",), version=1)])
    engine.index([course("x1", title="安全生产", tags=("安全生产",), version=2)])
    engine.refresh()
    assert ids(engine, "乡村振兴") == []
    assert ids(engine, "安全生产") == ["x1"]
    assert engine.search(SearchQuery()).facets["tags"] == [("安全生产", 1)]
    assert engine.count() == 1


def test_stale_version_does_not_overwrite(
    engine: SearchEngine, course: Callable[..., CourseDocument]
) -> None:
    assert engine.index([course("x1", title="新标题", version=5)]) == 1
    assert engine.index([course("x1", title="旧标题", version=4)]) == 0
    assert (
        engine.index([course("x1", title="新标题", version=5), course("x2", version=1)]) == 2
    )  # equal: rewritten
    engine.refresh()
    assert ids(engine, "旧标题") == []
    assert ids(engine, "新标题") == ["x1"]


def test_delete(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    engine.index([course("x1", title="乡村振兴"), course("x2", title="乡村治理")])
    engine.refresh()
    engine.delete(["x1", "missing"])
    engine.refresh()
    assert ids(engine, "乡村") == ["x2"]
    assert engine.count() == 1
    engine.delete([])


def test_visibility_changes_on_reindex(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    engine.index([course("x1", visible_org_paths=(COUNTY_A,), version=1)])
    engine.refresh()
    assert ids(engine, visible_to_paths=[COUNTY_B]) == []
    engine.index([course("x1", visible_org_paths=(COUNTY_A, COUNTY_B), version=2)])
    engine.refresh()
    assert ids(engine, visible_to_paths=[COUNTY_B]) == ["x1"]


def test_course_for_everyone(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    engine.index([course("x1", visible_org_paths=("/",)), course("x2", visible_org_paths=())])
    engine.refresh()
    assert ids(engine, visible_to_paths=[]) == ["x1"]
    assert ids(engine, visible_to_paths=["/7/8/"]) == ["x1"]
    assert set(ids(engine)) == {"x1", "x2"}


def test_empty_category_is_not_a_facet_value(
    engine: SearchEngine, course: Callable[..., CourseDocument]
) -> None:
    engine.index([course("x1", category="", kind="", teachers=(), tags=())])
    engine.refresh()
    facets = engine.search(SearchQuery()).facets
    assert facets == {name: [] for name in ("category", "kind", "teacher", "tags", "hours", "duration")}


def test_dropped_index_raises_search_error(
    engine: SearchEngine, course: Callable[..., CourseDocument]
) -> None:
    engine.drop()
    with pytest.raises(SearchError, match="ensure_index"):
        engine.search(SearchQuery("党性"))
    with pytest.raises(SearchError):
        engine.index([course("x1")])  # and no index springs into existence
    with pytest.raises(SearchError):
        engine.delete(["x1"])
    assert engine.ensure_index() is True
    assert engine.count() == 0
