"""The search engine the app uses, built once per app from settings."""

from __future__ import annotations

from flask import current_app

from lms.settings import Settings
from search import SearchEngine, create_engine


def build_engine(settings: Settings) -> SearchEngine:
    if settings.search_backend == "elasticsearch":
        return create_engine(
            "elasticsearch", url=settings.elasticsearch_url, index_prefix=settings.search_index_prefix
        )
    return create_engine(
        "embedded", path=str(settings.search_path), index_prefix=settings.search_index_prefix
    )


def get_search_engine() -> SearchEngine:
    engine: SearchEngine | None = current_app.extensions.get("lms.search")
    if engine is None:
        engine = build_engine(current_app.extensions["lms.settings"])
        engine.ensure_index()  # idempotent; if the service is down this raises and the next call retries
        current_app.extensions["lms.search"] = engine
    return engine
