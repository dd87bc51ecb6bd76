"""Elasticsearch specifics: unreachable servers, the alias, and agreement with the embedded engine."""

from __future__ import annotations

import time

import pytest
from elasticsearch import Elasticsearch

from search import SearchEngine, SearchQuery, SearchUnavailable, create_engine
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
    [{}, {"visible_to_paths": ["/1/2/4/"]}, {"filters": {"kind": ["video"], "teacher": ["王建国", "周敏"]}}],
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
