"""The search engine the app uses, built once per app from settings."""

from __future__ import annotations

import logging

from flask import current_app

from lms.core.tasks import enqueue
from lms.settings import Settings
from search import SearchEngine, SearchUnavailable, create_engine

log = logging.getLogger(__name__)
READY = "lms.search.ready"


def build_engine(settings: Settings) -> SearchEngine:
    if settings.search_backend == "elasticsearch":
        return create_engine(
            "elasticsearch", url=settings.elasticsearch_url, index_prefix=settings.search_index_prefix
        )
    return create_engine(
        "embedded", path=str(settings.search_path), index_prefix=settings.search_index_prefix
    )


def get_search_engine() -> SearchEngine:
    """The app's engine, its index ensured once. While the engine is down this still returns it (its calls
    raise ``SearchUnavailable``, which callers answer with the database fallback) and tries again next time.
    A newly created index (first start, or a new mapping version) is filled by a background rebuild."""
    extensions = current_app.extensions
    engine: SearchEngine | None = extensions.get("lms.search")
    if engine is None:
        engine = extensions["lms.search"] = build_engine(extensions["lms.settings"])
    if not extensions.get(READY):
        try:
            created = engine.ensure_index()
        except SearchUnavailable as error:
            log.warning("search engine unavailable, will retry: %s", error)
            return engine
        extensions[READY] = True
        if created:
            try:
                enqueue("discovery.reindex_search")
            except Exception:  # broker down: searching must still work; the index needs filling by hand
                log.exception(
                    "could not queue the rebuild of the new search index: run `flask search reindex`"
                )
    return engine
