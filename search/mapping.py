"""The Elasticsearch index: settings, mapping, document body; and the names of index generations.

Bump ``MAPPING_VERSION`` on any change here or in ``search.analysis`` / ``search.suggest``: both engines
then build a new index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from search.analysis import TEXT_FIELDS, segment_document
from search.documents import CourseDocument
from search.suggest import suggestion_keys

MAPPING_VERSION = 3

_KEYWORD = {"type": "keyword"}
_TOKENS = {"type": "text", "analyzer": "whitespace"}  # pre-segmented in the app (search.analysis)
_STORED = {"type": "text", "index": False}  # only returned with a hit, highlighted in the app
_KEYS = {"type": "keyword", "doc_values": False}  # only prefix-matched (search.suggest)

INDEX_BODY: dict[str, Any] = {
    # One shard: exact facet counts and one set of term statistics for scoring.
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "id": _KEYWORD,
            "title": _STORED,
            "summary": _STORED,
            **{f"{name}_{kind}": _TOKENS for name in TEXT_FIELDS for kind in ("chars", "words")},
            "suggest_keys": _KEYS,
            "suggest_head": _KEYS,
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
    keys = suggestion_keys(doc)
    return {
        "id": doc.id,
        "title": doc.title,
        "summary": doc.summary,
        **segment_document(doc),
        "suggest_keys": sorted(keys),
        "suggest_head": sorted(key for key, head in keys.items() if head),
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


def generation(*, rebuild: bool = False) -> str:
    """The name suffix of a physical index of the current mapping: ``v3`` for the first one, and
    ``v3_<UTC timestamp>`` (always a new name) for each rebuild."""
    stamp = f"_{datetime.now(UTC):%Y%m%d%H%M%S%f}" if rebuild else ""
    return f"v{MAPPING_VERSION}{stamp}"


def is_current(name: str) -> bool:
    """Whether a generation suffix (see ``generation``) belongs to the current mapping."""
    return name == f"v{MAPPING_VERSION}" or name.startswith(f"v{MAPPING_VERSION}_")
