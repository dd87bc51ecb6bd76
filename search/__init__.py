"""Course catalog search, framework-free: two engines (Elasticsearch, embedded SQLite) behind one interface.

Chinese text is segmented in the app (``search.analysis``), so both engines match the same documents.
"""

from __future__ import annotations

from search.documents import CourseDocument
from search.engine import SearchEngine
from search.errors import InvalidQuery, SearchError, SearchUnavailable
from search.query import FACETS, SearchHit, SearchHits, SearchQuery, Sort

__all__ = [
    "FACETS",
    "CourseDocument",
    "InvalidQuery",
    "SearchEngine",
    "SearchError",
    "SearchHit",
    "SearchHits",
    "SearchQuery",
    "SearchUnavailable",
    "Sort",
    "create_engine",
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
