"""Keeping the search index in step with the catalog, and searching it (with a database fallback)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update

from lms.accounts.models import User
from lms.catalog import queries as catalog_queries
from lms.catalog.models import Course
from lms.core.db import db
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.discovery.documents import build_documents
from lms.discovery.models import SearchOutbox
from search import (
    FACETS,
    CourseDocument,
    InvalidQuery,
    RebuildReport,
    SearchEngine,
    SearchQuery,
    SearchUnavailable,
    rebuild,
)

__all__ = [
    "FACETS",
    "CatalogHit",
    "CatalogResult",
    "CourseSuggestion",
    "reindex_all",
    "search_catalog",
    "suggest_courses",
    "sync_outbox",
]

log = logging.getLogger(__name__)
BATCH = 500


def sync_outbox(engine: SearchEngine, *, limit: int = BATCH) -> int:
    """Apply up to ``limit`` queued changes; returns how many rows were done. On SearchUnavailable the
    rows stay queued (their attempts counted) and the error propagates for the caller to retry."""
    rows = db.session.execute(
        select(SearchOutbox.id, SearchOutbox.course_id).order_by(SearchOutbox.id).limit(limit)
    ).all()
    if not rows:
        return 0
    last_id = rows[-1][0]
    courses = list(catalog_queries.courses_by_id(sorted({course_id for _, course_id in rows})).values())
    documents, gone = build_documents(courses)
    try:
        if documents:
            engine.index(documents)
        if gone:
            engine.delete([str(c.id) for c in gone])
    except SearchUnavailable:
        db.session.execute(
            update(SearchOutbox).where(SearchOutbox.id <= last_id).values(attempts=SearchOutbox.attempts + 1)
        )
        raise
    db.session.execute(delete(SearchOutbox).where(SearchOutbox.id <= last_id))
    return len(rows)


def pending_changes() -> int:
    return db.session.scalar(select(func.count(SearchOutbox.id))) or 0


def _published_documents() -> Iterator[CourseDocument]:
    """Every published course, read lazily in batches (``rebuild`` requires a lazy source)."""
    after = 0
    while ids := catalog_queries.published_course_ids(after_id=after, limit=BATCH):
        documents = build_documents(list(catalog_queries.courses_by_id(ids).values()))[0]
        _end_read()
        yield from documents
        after = ids[-1]


def _reload(ids: list[str]) -> list[CourseDocument]:
    courses = catalog_queries.courses_by_id([int(i) for i in ids if i.isdigit()])
    documents = build_documents(list(courses.values()))[0]
    _end_read()
    return documents


def _end_read() -> None:
    """End a rebuild's read transaction: the edits it must not hold up go on meanwhile (on SQLite every
    transaction holds the write lock), and the objects read are let go (memory stays flat)."""
    db.session.commit()


def reindex_all(engine: SearchEngine) -> RebuildReport:
    """Rebuild the index from the database beside the live one and switch to it: searches keep working
    throughout, and writes made meanwhile (by any process) are replayed before and after the switch.
    Reads in a transaction per batch: call it with nothing pending in the session."""
    return rebuild(engine, _published_documents(), reload=_reload, batch_size=BATCH)


@dataclass(frozen=True)
class CatalogHit:
    """A course in a result list, as the index holds it (what the list shows needs no database read)."""

    id: int
    title: str
    kind: str
    hours: float
    duration_s: int
    tags: tuple[str, ...]
    highlights: dict[str, str] = field(default_factory=dict)
    """``title`` / ``summary`` -> HTML-escaped text with the matches in ``<em>``."""

    @classmethod
    def of_course(cls, course: Course) -> CatalogHit:
        revision = course.current
        return cls(
            course.id,
            revision.title,
            str(revision.kind),
            float(revision.hours),
            revision.duration_s,
            tuple(revision.tags),
        )


@dataclass
class CatalogResult:
    total: int
    hits: list[CatalogHit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    degraded: bool = False  # the search engine was down: a plain database search answered instead
    page: int = 1
    per_page: int = 20


def search_catalog(
    engine: SearchEngine,
    *,
    user: User,
    text: str = "",
    filters: dict[str, Any] | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> CatalogResult:
    """One page of the published courses ``user`` may see matching ``text`` and ``filters``.

    The hits come from the index as they are; only which of them the user may see is checked again in
    the database (one query by id), so a stale index never shows a course it should not."""
    try:
        query = SearchQuery(
            text=text[:200],
            filters=filters or {},
            visible_to_paths=[user.org.path],
            sort=sort,
            page=page,
            per_page=per_page,
        )
    except InvalidQuery:
        raise ValidationFailed(N_("The search parameters are not valid.")) from None
    try:
        found = engine.search(query)
    except SearchUnavailable as error:
        log.warning("search unavailable, answering from the database: %s", error)
        fallback = catalog_queries.search_published(user, text=text[:200], page=page, per_page=per_page)
        hits = [CatalogHit.of_course(course) for course in fallback.items]
        return CatalogResult(fallback.total, hits, degraded=True, page=page, per_page=per_page)
    ids = [int(hit.id) for hit in found.hits if hit.id.isdigit()]
    allowed = catalog_queries.visible_course_ids(user, ids)  # never trust the index for visibility
    return CatalogResult(
        total=found.total,
        hits=[
            CatalogHit(int(h.id), h.title, h.kind, h.hours, h.duration_s, h.tags, h.highlights)
            for h in found.hits
            if h.id.isdigit() and int(h.id) in allowed
        ],
        facets=found.facets,
        page=page,
        per_page=per_page,
    )


@dataclass(frozen=True)
class CourseSuggestion:
    text: str
    kind: str  # title | tag | teacher
    course_id: int | None


def suggest_courses(
    engine: SearchEngine, *, user: User, prefix: str, limit: int = 8
) -> list[CourseSuggestion]:
    """Type-ahead (characters, pinyin, initials). Title suggestions are re-checked in SQL like search hits;
    while the engine is down there are simply no suggestions."""
    try:
        found = engine.suggest(prefix[:50], visible_to_paths=[user.org.path], limit=limit)
    except SearchUnavailable:
        return []
    titled = [int(s.course_id) for s in found if s.course_id and s.course_id.isdigit()]
    allowed = catalog_queries.visible_course_ids(user, titled)
    return [
        CourseSuggestion(s.text, str(s.kind), int(s.course_id) if s.course_id else None)
        for s in found
        if s.course_id is None or (s.course_id.isdigit() and int(s.course_id) in allowed)
    ]
