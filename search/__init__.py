"""Course catalog search, framework-free: two engines (Elasticsearch, embedded SQLite) behind one interface.

Chinese text is segmented in the app (``search.analysis``), so both engines match the same documents;
suggestions (``search.suggest``) and rebuilds (``search.indexer``) work the same on both.
"""

from __future__ import annotations

from search.documents import CourseDocument
from search.engine import IndexBuild, SearchEngine
from search.errors import InvalidQuery, SearchError, SearchUnavailable
from search.indexer import RebuildReport, Reload, rebuild
from search.query import FACETS, RANGES, Range, SearchHit, SearchHits, SearchQuery, Sort
from search.suggest import MAX_SUGGESTIONS, Suggestion, SuggestionKind, warm_up

__all__ = [
    "FACETS",
    "MAX_SUGGESTIONS",
    "RANGES",
    "CourseDocument",
    "IndexBuild",
    "InvalidQuery",
    "Range",
    "RebuildReport",
    "Reload",
    "SearchEngine",
    "SearchError",
    "SearchHit",
    "SearchHits",
    "SearchQuery",
    "SearchUnavailable",
    "Sort",
    "Suggestion",
    "SuggestionKind",
    "create_engine",
    "rebuild",
    "warm_up",
]


def create_engine(
    backend: str, *, url: str | None = None, path: str | None = None, index_prefix: str = "lms_"
) -> SearchEngine:
    """The engine for ``backend``: ``"elasticsearch"`` (needs ``url``) or ``"embedded"`` (``path`` to a
    SQLite file, default in memory). Nothing is contacted until first use; call ``ping()`` to check."""
    if backend == "elasticsearch":
        if not url:
            raise ValueError("the elasticsearch search backend needs a url")
        from search.elasticsearch_engine import ElasticsearchEngine  # the client is only needed here

        return ElasticsearchEngine(url, index_prefix=index_prefix)
    if backend == "embedded":
        from search.embedded_engine import EmbeddedEngine

        return EmbeddedEngine(path or ":memory:", index_prefix=index_prefix)
    raise ValueError(f"unknown search backend {backend!r}; use 'embedded' or 'elasticsearch'")
