"""Pure tests of SearchQuery validation, visibility keys and the Elasticsearch DSL."""

from __future__ import annotations

import pytest

from search import InvalidQuery, SearchQuery, Sort
from search.query import MAX_PER_PAGE, RANGES, build_search_body, visibility_keys


def test_visibility_keys_are_ancestors_on_segment_boundaries() -> None:
    assert visibility_keys(["/1/4/9/"]) == {"/", "/1/", "/1/4/", "/1/4/9/"}
    assert visibility_keys(["/1/40/", "/2/"]) == {"/", "/1/", "/1/40/", "/2/"}
    assert visibility_keys([]) == {"/"}
    assert visibility_keys(["/"]) == {"/"}


def test_defaults() -> None:
    query = SearchQuery()
    assert (query.text, query.filters, query.sort, query.page, query.per_page) == (
        "",
        {},
        Sort.RELEVANCE,
        1,
        20,
    )
    assert query.visibility is None


def test_normalization() -> None:
    query = SearchQuery(
        filters={"tags": ["a", "b", "a"], "kind": "video", "teacher": []}, per_page=500, sort="rating"
    )
    assert query.filters == {"tags": ("a", "b"), "kind": ("video",)}
    assert query.per_page == MAX_PER_PAGE
    assert query.sort is Sort.RATING
    assert SearchQuery(visible_to_paths="/1/2/").visible_to_paths == ("/1/2/",)


@pytest.mark.parametrize(
    "params",
    [
        {"filters": {"colour": ["red"]}},
        {"sort": "cheapest"},
        {"page": 0},
        {"per_page": 0},
        {"page": 101, "per_page": 100},
        {"facet_size": 0},
        {"filters": {"hours": ["1-3"]}},
        {"filters": {"duration": ["<=15min", "micro"]}},
        {"visible_to_paths": ["1/2"]},
        {"visible_to_paths": ["/1//2/"]},
    ],
)
def test_invalid_parameters(params: dict[str, object]) -> None:
    with pytest.raises(InvalidQuery):
        SearchQuery(**params)  # type: ignore[arg-type]


def test_body_without_text_matches_all_with_visibility_filter() -> None:
    body = build_search_body(SearchQuery(visible_to_paths=["/1/2/"], page=3, per_page=10))
    assert body["query"] == {
        "bool": {"filter": [{"terms": {"visible_org_paths": ["/", "/1/", "/1/2/"]}}], "must": []}
    }
    assert (body["from"], body["size"], body["track_total_hits"]) == (20, 10, True)
    assert "highlight" not in body and "post_filter" not in body


def test_body_text_clauses() -> None:
    body = build_search_body(SearchQuery("党性教育 c++"))
    party, c = body["query"]["bool"]["must"]
    assert {"match_phrase": {"title_chars": {"query": "党 性 教 育", "boost": 4.0}}} in party["bool"][
        "should"
    ]
    assert {"term": {"summary_words": {"value": "党性教育", "boost": 1.0}}} in party["bool"]["should"]
    assert party["bool"]["minimum_should_match"] == 1
    assert all("match_phrase" in clause for clause in c["bool"]["should"])  # no word for c++
    assert "highlight" not in body  # done in the app, on the stored fields it asks for
    assert body["_source"] == ["title", "summary", "kind", "hours", "duration_s", "tags"]


def test_body_never_uses_query_string() -> None:
    assert "query_string" not in repr(build_search_body(SearchQuery('title:x AND "y" OR z*')))


def test_body_with_nothing_searchable_matches_none() -> None:
    assert build_search_body(SearchQuery("?!"))["query"] == {"match_none": {}}


def test_multi_select_facets_use_post_filter_and_other_selections() -> None:
    body = build_search_body(SearchQuery(filters={"category": ["a", "b"], "kind": ["video"]}))
    category = {"terms": {"category": ["a", "b"]}}
    kind = {"terms": {"kind": ["video"]}}
    assert body["post_filter"] == {"bool": {"filter": [category, kind]}}
    assert body["aggs"]["category"]["filter"] == {"bool": {"filter": [kind]}}
    assert body["aggs"]["kind"]["filter"] == {"bool": {"filter": [category]}}
    assert body["aggs"]["tags"]["filter"] == {"bool": {"filter": [category, kind]}}
    assert body["aggs"]["teacher"]["aggs"]["values"]["terms"] == {"field": "teachers", "size": 20}


def test_sorts_end_with_id() -> None:
    for sort in Sort:
        assert build_search_body(SearchQuery(sort=sort))["sort"][-1] == {
            "id": {"order": "asc", "missing": "_last"}
        }
    assert build_search_body(SearchQuery())["sort"][0] == {"_score": {"order": "desc"}}


def test_range_facets_select_and_count_by_bucket() -> None:
    body = build_search_body(SearchQuery(filters={"hours": [">4", "<=0.5"], "kind": ["video"]}))
    hours = {
        "bool": {
            "should": [{"range": {"hours": {"gt": 0, "lte": 0.5}}}, {"range": {"hours": {"gt": 4}}}],
            "minimum_should_match": 1,
        }
    }
    assert body["post_filter"] == {"bool": {"filter": [hours, {"terms": {"kind": ["video"]}}]}}
    assert body["aggs"]["kind"]["filter"] == {"bool": {"filter": [hours]}}
    duration = body["aggs"]["duration"]["aggs"]["values"]["filters"]["filters"]
    assert [clause["range"]["duration_s"] for clause in duration] == [
        {"gt": 0, "lte": 900},
        {"gt": 900, "lte": 1800},
        {"gt": 1800, "lte": 3600},
        {"gt": 3600},
    ]
    assert [bucket.key for bucket in RANGES["duration"]] == ["<=15min", "15-30min", "30-60min", ">60min"]


def test_range_buckets_hold_their_upper_bound() -> None:
    short, half_to_one = RANGES["hours"][:2]
    assert 0.5 in short and 0.5 not in half_to_one and 0 not in short
    assert 100 in RANGES["hours"][-1]
