"""Search requests and results, and the pure translation of a request into Elasticsearch's query DSL.

Visibility. Org units are materialized paths (``/1/4/9/`` = province 1, city 4, county 9). A course is
visible to a user iff one of its ``visible_org_paths`` is an ancestor-or-self of one of the user's org
paths. Rather than prefix-matching strings (``/1/4/`` would wrongly cover ``/1/40/``), the query expands
the user's paths into all their ancestors on segment boundaries plus the root ``/`` (``visibility_keys``)
and keeps courses with an exact match among them: a ``terms`` filter on a keyword field in Elasticsearch,
an indexed ``IN`` in SQLite. ``visible_to_paths=None`` means no restriction (admins, jobs).

Facets. Filters combine with OR inside a facet and AND across facets. The text and visibility decide
the candidate set; the facet selections are applied after it (``post_filter``), and the counts of facet X
are taken over the candidates passing every selection except X's own, so the other values of X stay
visible with honest counts (multi-select). Value facets (category, kind, teacher, tags) list their values
by count descending, then value ascending; range facets (``RANGES``: hours, duration) list their buckets
in the fixed order defined there. Either way only values with a count are listed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from search.analysis import TEXT_FIELDS, Term, query_terms
from search.documents import is_org_path
from search.errors import InvalidQuery


@dataclass(frozen=True, slots=True)
class Range:
    """A bucket of a range facet: the values in ``(above, up_to]``; no ``up_to``: unbounded."""

    key: str
    above: float
    up_to: float | None = None

    def __contains__(self, value: float) -> bool:
        return value > self.above and (self.up_to is None or value <= self.up_to)

    def clause(self, doc_field: str) -> dict[str, Any]:
        """The Elasticsearch query for this bucket on ``doc_field``."""
        upper = {} if self.up_to is None else {"lte": self.up_to}
        return {"range": {doc_field: {"gt": self.above, **upper}}}


RANGES: dict[str, tuple[Range, ...]] = {
    "hours": (
        Range("<=0.5", 0, 0.5),
        Range("0.5-1", 0.5, 1),
        Range("1-2", 1, 2),
        Range("2-4", 2, 4),
        Range(">4", 4),
    ),
    "duration": (
        Range("<=15min", 0, 15 * 60),  # micro-lessons
        Range("15-30min", 15 * 60, 30 * 60),
        Range("30-60min", 30 * 60, 60 * 60),
        Range(">60min", 60 * 60),
    ),
}
"""Range facet -> its buckets, in display order (credit hours; duration in seconds). Every lower bound is
exclusive, so a course with 0 (not set) is in no bucket, just as an empty category is no facet value."""

FACETS: dict[str, str] = {
    "category": "category",
    "kind": "kind",
    "teacher": "teachers",
    "tags": "tags",
    "hours": "hours",
    "duration": "duration_s",
}
"""Facet name -> document field, in display order. The facets in ``RANGES`` bucket numbers; the others
count values."""

MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000
"""Elasticsearch's default ``index.max_result_window``; deeper pages are refused on both engines."""


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    POPULARITY = "popularity"
    RATING = "rating"


SORT_ORDERS: dict[Sort, tuple[tuple[str, str], ...]] = {
    Sort.RELEVANCE: (("_score", "desc"), ("published_at", "desc"), ("id", "asc")),
    Sort.NEWEST: (("published_at", "desc"), ("id", "asc")),
    Sort.POPULARITY: (("popularity", "desc"), ("rating", "desc"), ("id", "asc")),
    Sort.RATING: (("rating", "desc"), ("popularity", "desc"), ("id", "asc")),
}
"""(field, order) keys per sort; a missing value sorts last. ``id`` makes every order total."""


def visibility_keys(paths: Iterable[str]) -> frozenset[str]:
    """The root and each ancestor-or-self of ``paths``: ``/1/4/`` -> ``/``, ``/1/``, ``/1/4/``."""
    keys = {"/"}
    for path in paths:
        segments = [segment for segment in path.split("/") if segment]
        keys.update(
            "/" + "".join(f"{segment}/" for segment in segments[:n]) for n in range(1, len(segments) + 1)
        )
    return frozenset(keys)


def org_paths(paths: str | Collection[str] | None) -> tuple[str, ...] | None:
    """A user's org paths as a tuple (``None``: unrestricted); ``InvalidQuery`` if one is malformed."""
    if paths is None:
        return None
    checked = (paths,) if isinstance(paths, str) else tuple(paths)
    bad = [path for path in checked if not isinstance(path, str) or not is_org_path(path)]
    if bad:
        raise InvalidQuery(f"not org paths: {bad}")
    return checked


@dataclass(frozen=True)
class SearchQuery:
    """A catalog search. Invalid parameters raise ``InvalidQuery``; the text never does.

    ``filters`` maps facet names (``FACETS``) to the selected values. ``visible_to_paths`` holds the
    searching user's org paths (``None``: unrestricted). ``per_page`` is capped at ``MAX_PER_PAGE``.
    """

    text: str = ""
    filters: Mapping[str, Collection[str]] = field(default_factory=dict)
    visible_to_paths: Collection[str] | None = None
    sort: Sort | str = Sort.RELEVANCE
    page: int = 1
    per_page: int = 20
    facet_size: int = 20

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidQuery(f"text must be a string, not {type(self.text).__name__}")
        unknown = sorted(set(self.filters) - FACETS.keys())
        if unknown:
            raise InvalidQuery(f"unknown facets {unknown}; known: {sorted(FACETS)}")
        filters = {
            facet: tuple(dict.fromkeys([values] if isinstance(values, str) else values))
            for facet, values in self.filters.items()
        }
        for facet in filters.keys() & RANGES.keys():
            unknown = sorted(set(filters[facet]) - {bucket.key for bucket in RANGES[facet]})
            if unknown:
                raise InvalidQuery(
                    f"unknown {facet} buckets {unknown}; known: {[b.key for b in RANGES[facet]]}"
                )
        object.__setattr__(self, "filters", {facet: values for facet, values in filters.items() if values})
        try:
            object.__setattr__(self, "sort", Sort(self.sort))
        except ValueError:
            raise InvalidQuery(f"unknown sort {self.sort!r}; known: {[s.value for s in Sort]}") from None
        if self.page < 1 or self.per_page < 1 or not 1 <= self.facet_size <= 100:
            raise InvalidQuery("page and per_page must be >= 1, facet_size within 1..100")
        object.__setattr__(self, "per_page", min(self.per_page, MAX_PER_PAGE))
        if self.page * self.per_page > MAX_RESULT_WINDOW:
            raise InvalidQuery(f"results beyond the first {MAX_RESULT_WINDOW} are not served")
        object.__setattr__(self, "visible_to_paths", org_paths(self.visible_to_paths))

    @cached_property
    def terms(self) -> tuple[Term, ...]:
        return query_terms(self.text)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @cached_property
    def visibility(self) -> frozenset[str] | None:
        """Org paths a visible course must list one of; ``None`` when unrestricted."""
        return None if self.visible_to_paths is None else visibility_keys(self.visible_to_paths)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A matching course, with what a result list shows of it, as indexed (no need to read it again)."""

    id: str
    score: float | None
    """Relevance score under ``Sort.RELEVANCE`` (engine-specific scale), else ``None``."""
    highlights: dict[str, str]
    """``title`` / ``summary`` -> HTML-escaped text with matches in ``<em>``; only fields that matched."""
    title: str = ""
    kind: str = ""
    hours: float = 0.0
    duration_s: int = 0
    tags: tuple[str, ...] = ()


HIT_FIELDS = ("title", "summary", "kind", "hours", "duration_s", "tags")
"""The stored fields a hit is built from (the summary only to highlight it)."""


@dataclass(frozen=True, slots=True)
class SearchHits:
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[tuple[str, int]]]
    """Every facet in ``FACETS`` -> ``(value, count)`` buckets, count > 0, at most ``facet_size`` of them."""


def build_search_body(query: SearchQuery) -> dict[str, Any]:
    """The Elasticsearch ``_search`` body for ``query`` (fields as in ``search.mapping``)."""
    terms = query.terms
    visibility = query.visibility
    scope = [] if visibility is None else [{"terms": {"visible_org_paths": sorted(visibility)}}]
    if query.text.strip() and not terms:
        candidates: dict[str, Any] = {"match_none": {}}  # text, but nothing searchable in it
    else:
        candidates = {"bool": {"filter": scope, "must": [_term_clause(term) for term in terms]}}
    selected = {facet: _selection(facet, values) for facet, values in query.filters.items()}
    body: dict[str, Any] = {
        "query": candidates,
        "from": query.offset,
        "size": query.per_page,
        "track_total_hits": True,
        "_source": list(HIT_FIELDS),  # highlighted in the app, as on the embedded engine
        "sort": [
            {name: {"order": order} if name == "_score" else {"order": order, "missing": "_last"}}
            for name, order in SORT_ORDERS[query.sort]
        ],
        "aggs": {
            facet: {
                "filter": _all_of(clause for other, clause in selected.items() if other != facet),
                "aggs": {"values": _counts(facet, query.facet_size)},
            }
            for facet in FACETS
        },
    }
    if selected:
        body["post_filter"] = _all_of(selected.values())
    return body


def _selection(facet: str, values: Collection[str]) -> dict[str, Any]:
    """The filter for the selected ``values`` of ``facet``: any of them."""
    if facet not in RANGES:
        return {"terms": {FACETS[facet]: list(values)}}
    buckets = [bucket.clause(FACETS[facet]) for bucket in RANGES[facet] if bucket.key in values]
    return {"bool": {"should": buckets, "minimum_should_match": 1}}


def _counts(facet: str, size: int) -> dict[str, Any]:
    """The aggregation counting ``facet``'s values: a ``terms``, or ``filters`` in ``RANGES`` order."""
    if facet not in RANGES:
        return {"terms": {"field": FACETS[facet], "size": size}}
    return {"filters": {"filters": [bucket.clause(FACETS[facet]) for bucket in RANGES[facet]]}}


def _term_clause(term: Term) -> dict[str, Any]:
    """The term's phrase in any field's characters; its word in a ``_words`` field only adds score."""
    phrase = " ".join(term.chars)
    should: list[dict[str, Any]] = [
        {"match_phrase": {f"{name}_chars": {"query": phrase, "boost": boost}}}
        for name, boost in TEXT_FIELDS.items()
    ]
    if term.word:
        should += [
            {"term": {f"{name}_words": {"value": term.word, "boost": boost}}}
            for name, boost in TEXT_FIELDS.items()
        ]
    return {"bool": {"should": should, "minimum_should_match": 1}}


def _all_of(clauses: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"filter": list(clauses)}}
