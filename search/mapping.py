"""The Elasticsearch index: settings, mapping, document body.

Bump ``MAPPING_VERSION`` on any change here or in ``search.analysis``: both engines then build a new index.
"""

from __future__ import annotations

from typing import Any

from search.analysis import TEXT_FIELDS, segment_document
from search.documents import CourseDocument

MAPPING_VERSION = 1

_KEYWORD = {"type": "keyword"}
_TOKENS = {"type": "text", "analyzer": "whitespace"}  # pre-segmented in the app (search.analysis)
_ORIGINAL = {"type": "text", "analyzer": "standard"}  # original text, for highlighting only

INDEX_BODY: dict[str, Any] = {
    # One shard: exact facet counts and one set of term statistics for scoring.
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "id": _KEYWORD,
            "title": _ORIGINAL,
            "summary": _ORIGINAL,
            **{f"{name}_{kind}": _TOKENS for name in TEXT_FIELDS for kind in ("chars", "words")},
            "category": _KEYWORD,
            "kind": _KEYWORD,
            "teachers": _KEYWORD,
            "tags": _KEYWORD,
            "visible_org_paths": _KEYWORD,
            "hours": {"type": "double"},
            "duration_s": {"type": "integer"},
            "published_at": {"type": "date"},
            "popularity": {"type": "long"},
            "rating": {"type": "double"},
        },
    },
}


def to_source(doc: CourseDocument) -> dict[str, Any]:
    """The indexed body of ``doc``. Empty category/kind are left out, so they never become facet values."""
    return {
        "id": doc.id,
        "title": doc.title,
        "summary": doc.summary,
        **segment_document(doc),
        "category": doc.category or None,
        "kind": doc.kind or None,
        "teachers": list(doc.teachers),
        "tags": list(doc.tags),
        "visible_org_paths": list(doc.visible_org_paths),
        "hours": doc.hours,
        "duration_s": doc.duration_s,
        "published_at": doc.published_at.isoformat() if doc.published_at else None,
        "popularity": doc.popularity,
        "rating": doc.rating,
    }
