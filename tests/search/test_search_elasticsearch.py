"""Elasticsearch specifics: unreachable servers, the alias, and agreement with the embedded engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from search import CourseDocument, SearchEngine, SearchQuery, SearchUnavailable, create_engine, rebuild
from search.elasticsearch_engine import ElasticsearchEngine
from search.mapping import INDEX_BODY


def test_create_engine_needs_a_known_backend_and_a_url() -> None:
    with pytest.raises(ValueError, match="url"):
        create_engine("elasticsearch", url="")
    with pytest.raises(ValueError, match="unknown search backend"):
        create_engine("solr")


def test_unreachable_server_is_unavailable_quickly() -> None:
    engine = ElasticsearchEngine("http://user:secret@127.0.0.1:1", index_prefix="nowhere_")
    started = time.monotonic()
    with pytest.raises(SearchUnavailable, match=r"at http://127\.0\.0\.1:1 unreachable while ping") as caught:
        engine.ping()
    assert "secret" not in str(caught.value)
    with pytest.raises(SearchUnavailable, match="while searching"):
        engine.search(SearchQuery("党性"))
    assert time.monotonic() - started < 10
    engine.close()


@pytest.fixture
def es(elasticsearch_engine: SearchEngine) -> ElasticsearchEngine:
    assert isinstance(elasticsearch_engine, ElasticsearchEngine)
    return elasticsearch_engine


@pytest.mark.service("elasticsearch")
def test_alias_moves_to_the_new_mapping_version(es: ElasticsearchEngine) -> None:
    old = f"{es.alias}_v0"
    with Elasticsearch(es.location) as client:
        client.indices.create(index=old, **INDEX_BODY, aliases={es.alias: {"is_write_index": True}})
        assert es.ensure_index() is True
        assert set(client.indices.get_alias(name=es.alias)) == {es.index_name}
        assert client.indices.exists(index=old)  # kept for a grace period
        assert es.ensure_index() is False
        es.drop()
        assert not client.indices.get(index=f"{es.alias}_v*")


@pytest.mark.service("elasticsearch")
@pytest.mark.parametrize(
    "text",
    ["", "党", "党性", "教", "王建国", "理想信念", "思想", "新时代", "作风建设", "治党", "安全", "数据 政府",
     "Ｐｙｔｈｏｎ 入门", "pandas", "c++", "3", "经验", "一网通办", "乡村振兴 治理", "???"],
)  # fmt: skip
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"visible_to_paths": ["/1/2/4/"]},
        {"filters": {"kind": ["video"], "teacher": ["王建国", "周敏"]}},
        {"filters": {"hours": ["1-2", "2-4"], "duration": [">60min", "30-60min"]}},
    ],
)
def test_engines_agree(
    twin_catalogs: tuple[SearchEngine, SearchEngine], text: str, params: dict[str, object]
) -> None:
    """Same matches, totals, highlights and facet counts; only the relevance scores (and order) differ."""
    query = SearchQuery(text, per_page=100, **params)  # type: ignore[arg-type]
    embedded, elasticsearch = (engine.search(query) for engine in twin_catalogs)
    assert embedded.total == elasticsearch.total
    assert {hit.id: hit.highlights for hit in embedded.hits} == {
        hit.id: hit.highlights for hit in elasticsearch.hits
    }
    assert embedded.facets == elasticsearch.facets


@pytest.mark.service("elasticsearch")
@pytest.mark.parametrize(
    "prefix", ["党", "党性", "dang", "dx", "jiaoyu", "jy", "党j", "wang", "zhang", "an", "py", "3"]
)
@pytest.mark.parametrize("paths", [None, ["/1/2/4/"], ["/1/2/3/7/", "/1/5/"]])
def test_engines_suggest_alike(
    twin_catalogs: tuple[SearchEngine, SearchEngine], prefix: str, paths: list[str] | None
) -> None:
    embedded, elasticsearch = (engine.suggest(prefix, visible_to_paths=paths) for engine in twin_catalogs)
    assert embedded == elasticsearch


@pytest.mark.service("elasticsearch")
def test_rebuild_swaps_the_alias_then_deletes_the_old_index(
    es: ElasticsearchEngine, course: Callable[..., CourseDocument]
) -> None:
    es.ensure_index()
    es.index([course("x1")])
    assert set(_indices(es)) == {es.index_name}  # no rebuild: nothing journaled anywhere
    during: dict[str, set[str]] = {}

    def documents() -> Iterator[CourseDocument]:
        with Elasticsearch(es.location) as client:
            for alias in (es.alias, es.next_alias, es.journal_alias):
                during[alias] = set(client.indices.get_alias(name=alias))
        yield course("x2")

    report = rebuild(es, documents(), reload=lambda ids: [])
    new = report.index
    assert new.startswith(f"{es.index_name}_")
    assert during == {es.alias: {es.index_name}, es.next_alias: {new}, es.journal_alias: {f"{new}_journal"}}
    assert set(_indices(es)) == {new}  # the old index and the journal are gone
    with Elasticsearch(es.location) as client:
        assert set(client.indices.get_alias(name=es.alias)) == {new}
        assert not client.indices.exists_alias(name=f"{es.next_alias},{es.journal_alias}")
        assert "refresh_interval" not in client.indices.get_settings(index=new)[new]["settings"]["index"]
    assert es.count() == 1


def _indices(es: ElasticsearchEngine) -> list[str]:
    with Elasticsearch(es.location) as client:
        return list(client.indices.get(index=f"{es.alias}_v*"))
