"""The default engine, with no service: SQLite (stdlib ``sqlite3``) in a file or in memory.

FTS5 indexes the same pre-segmented token strings as Elasticsearch (``search.analysis``), and a query
means the same: every term as a phrase in some field's characters, ranked by FTS5's BM25 with the same
field boosts. Visibility is an indexed ``IN`` over a path table; facet filtering and counting, sorting and
paging run in Python over the candidates, which is fine at catalog scale (thousands of courses).

One connection per engine and process, behind a lock; WAL mode, so several processes can share a file.
An engine used after ``fork()`` opens its own connection (an in-memory index is not shared, of course).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from search.analysis import (
    HIGHLIGHT_FIELDS,
    TEXT_FIELDS,
    Term,
    mark_matches,
    render_highlight,
    segment_document,
)
from search.documents import CourseDocument
from search.errors import SearchError, SearchUnavailable
from search.mapping import MAPPING_VERSION
from search.query import FACETS, SORT_ORDERS, SearchHit, SearchHits, SearchQuery, Sort

_COLUMNS = [f"{name}_{kind}" for name in TEXT_FIELDS for kind in ("chars", "words")]
_CHARS = "{" + " ".join(column for column in _COLUMNS if column.endswith("_chars")) + "}"
_WORDS = "{" + " ".join(column for column in _COLUMNS if column.endswith("_words")) + "}"

_SCHEMA = (
    """CREATE TABLE {courses} (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        facets TEXT NOT NULL,  -- JSON: facet name -> values
        published_at REAL,     -- Unix time
        popularity INTEGER NOT NULL,
        rating REAL NOT NULL)""",
    "CREATE TABLE {paths} (path TEXT NOT NULL, course INTEGER NOT NULL, PRIMARY KEY (path, course))"
    " WITHOUT ROWID",
    "CREATE INDEX {paths}_course ON {paths} (course)",
    "CREATE VIRTUAL TABLE {text} USING fts5({columns}, tokenize = 'unicode61 remove_diacritics 0')",
)
_UPSERT = """INSERT INTO {courses} (id, version, title, summary, facets, published_at, popularity, rating)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, title = excluded.title, summary = excluded.summary,
        facets = excluded.facets, published_at = excluded.published_at,
        popularity = excluded.popularity, rating = excluded.rating
    WHERE excluded.version >= {courses}.version
    RETURNING rowid"""
_SELECT = "SELECT c.id, c.title, c.summary, c.facets, c.published_at, c.popularity, c.rating"
_MATCHING = (
    _SELECT + ", -bm25({text}, {weights}) AS _score "
    "FROM {text} JOIN {courses} c ON c.rowid = {text}.rowid WHERE {text} MATCH ?"
)
_EVERYTHING = _SELECT + ", 0.0 AS _score FROM {courses} c WHERE 1"
_VISIBLE = (
    " AND EXISTS (SELECT 1 FROM {paths} p WHERE p.course = c.rowid"
    " AND p.path IN (SELECT value FROM json_each(?)))"
)


class EmbeddedEngine:
    def __init__(self, path: str = ":memory:", *, index_prefix: str = "lms_") -> None:
        if not re.fullmatch(r"\w*", index_prefix, re.ASCII):
            raise ValueError(f"index_prefix must be letters, digits and underscores: {index_prefix!r}")
        self.path = path
        version = f"_v{MAPPING_VERSION}"
        self._tables = {
            "courses": f"{index_prefix}courses{version}",
            "paths": f"{index_prefix}course_paths{version}",
            "text": f"{index_prefix}course_text{version}",
        }
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _sql(self, template: str) -> str:
        """``template`` with this index's table names (checked identifiers) and FTS columns filled in."""
        return template.format(
            **self._tables,
            columns=", ".join(_COLUMNS),
            placeholders=", ".join("?" * len(_COLUMNS)),
            weights=", ".join(str(TEXT_FIELDS[column.rpartition("_")[0]]) for column in _COLUMNS),
        )

    @contextmanager
    def _session(self, action: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; with ``write``, inside one ``BEGIN IMMEDIATE`` transaction."""
        with self._lock:
            try:
                if self._conn is None or self._pid != os.getpid():
                    self._conn = sqlite3.connect(
                        self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                    )
                    self._conn.row_factory = sqlite3.Row
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._pid = os.getpid()
                conn = self._conn
                if not write:
                    yield conn
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                where = f"SQLite search index {self.path}"
                if "no such table" in str(exc):
                    raise SearchError(f"{where}: {action}: index missing; call ensure_index()") from exc
                raise SearchUnavailable(f"{where} unusable while {action}: {exc}") from exc
            except sqlite3.Error as exc:
                raise SearchError(f"SQLite search index {self.path}: {action} failed: {exc}") from exc

    def ping(self) -> None:
        try:
            with self._session("pinging") as conn:
                options = {row[0] for row in conn.execute("PRAGMA compile_options")}
        except SearchError as exc:
            raise SearchUnavailable(str(exc)) from exc
        if "ENABLE_FTS5" not in options:
            raise SearchUnavailable(f"SQLite {sqlite3.sqlite_version} was built without FTS5")

    def ensure_index(self) -> bool:
        with self._session("creating the index", write=True) as conn:
            if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ?", (self._tables["courses"],)
            ).fetchone():
                return False
            for statement in _SCHEMA:
                conn.execute(self._sql(statement))
        return True

    def index(self, docs: Iterable[CourseDocument]) -> int:
        prepared = [(doc, segment_document(doc)) for doc in docs]  # segment before taking the lock
        upsert = self._sql(_UPSERT)
        insert_text = self._sql("INSERT INTO {text} (rowid, {columns}) VALUES (?, {placeholders})")
        written = 0
        with self._session("indexing", write=True) as conn:
            for doc, segmented in prepared:
                stored = conn.execute(
                    upsert,
                    (
                        doc.id,
                        doc.version,
                        doc.title,
                        doc.summary,
                        json.dumps(_facet_values(doc), ensure_ascii=False),
                        doc.published_at.timestamp() if doc.published_at else None,
                        doc.popularity,
                        doc.rating,
                    ),
                ).fetchone()
                if stored is None:  # a newer version is stored
                    continue
                rowid = stored[0]
                self._forget(conn, rowid)
                conn.execute(insert_text, (rowid, *(segmented[column] for column in _COLUMNS)))
                conn.executemany(
                    self._sql("INSERT OR IGNORE INTO {paths} (path, course) VALUES (?, ?)"),
                    [(path, rowid) for path in doc.visible_org_paths],
                )
                written += 1
        return written

    def delete(self, ids: Iterable[str]) -> None:
        delete = self._sql("DELETE FROM {courses} WHERE id = ? RETURNING rowid")
        with self._session("deleting", write=True) as conn:
            for course_id in ids:
                row = conn.execute(delete, (course_id,)).fetchone()
                if row is not None:
                    self._forget(conn, row[0])

    def _forget(self, conn: sqlite3.Connection, rowid: int) -> None:
        """Remove a course's text and paths (before rewriting or after deleting it)."""
        conn.execute(self._sql("DELETE FROM {text} WHERE rowid = ?"), (rowid,))
        conn.execute(self._sql("DELETE FROM {paths} WHERE course = ?"), (rowid,))

    def search(self, query: SearchQuery) -> SearchHits:
        terms = query.terms
        if query.text.strip() and not terms:  # text, but nothing searchable in it
            return SearchHits(total=0, hits=[], facets={facet: [] for facet in FACETS})
        sql, params = (
            (self._sql(_MATCHING), [_match_expression(terms)]) if terms else (self._sql(_EVERYTHING), [])
        )
        if query.visibility is not None:
            sql += self._sql(_VISIBLE)
            params.append(json.dumps(sorted(query.visibility)))
        with self._session("searching") as conn:
            candidates = [dict(row) for row in conn.execute(sql, params)]
        for candidate in candidates:
            candidate["facets"] = {
                name: set(values) for name, values in json.loads(candidate["facets"]).items()
            }
        selected = {facet: set(values) for facet, values in query.filters.items()}
        facets = {
            facet: _buckets(
                (c["facets"][facet] for c in candidates if _passes(c, selected, ignoring=facet)),
                query.facet_size,
            )
            for facet in FACETS
        }
        matches = [c for c in candidates if _passes(c, selected)]
        for name, order in reversed(SORT_ORDERS[query.sort]):  # stable sorts, last key first
            present = [c for c in matches if c[name] is not None]
            missing = [c for c in matches if c[name] is None]
            matches = sorted(present, key=itemgetter(name), reverse=order == "desc") + missing
        relevance = query.sort is Sort.RELEVANCE
        hits = [
            SearchHit(id=c["id"], score=c["_score"] if relevance else None, highlights=_highlights(c, terms))
            for c in matches[query.offset : query.offset + query.per_page]
        ]
        return SearchHits(total=len(matches), hits=hits, facets=facets)

    def refresh(self) -> None:
        """Nothing to do: a committed write is visible at once."""

    def count(self) -> int:
        with self._session("counting") as conn:
            return int(conn.execute(self._sql("SELECT count(*) FROM {courses}")).fetchone()[0])

    def drop(self) -> None:
        with self._session("dropping the index", write=True) as conn:
            for table in ("text", "paths", "courses"):
                conn.execute(self._sql(f"DROP TABLE IF EXISTS {{{table}}}"))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _facet_values(doc: CourseDocument) -> dict[str, list[str]]:
    return {
        "category": [doc.category] if doc.category else [],
        "kind": [doc.kind] if doc.kind else [],
        "teacher": list(doc.teachers),
        "tags": list(doc.tags),
    }


def _match_expression(terms: Sequence[Term]) -> str:
    """FTS5 query: each term as a phrase in a ``_chars`` column, or (just for scoring) a ``_words`` word."""
    clauses = []
    for term in terms:
        clause = f"{_CHARS} : {_quote(term.chars)}"
        if term.word:
            clause = f"({clause} OR {_WORDS} : {_quote([term.word])})"
        clauses.append(clause)
    return " AND ".join(clauses)


def _quote(tokens: Sequence[str]) -> str:
    return '"' + " ".join(tokens).replace('"', '""') + '"'


def _passes(candidate: dict[str, Any], selected: dict[str, set[str]], ignoring: str | None = None) -> bool:
    """OR within a facet, AND across facets; ``ignoring`` leaves one facet's selection out."""
    return all(candidate["facets"][facet] & values for facet, values in selected.items() if facet != ignoring)


def _buckets(value_sets: Iterable[set[str]], size: int) -> list[tuple[str, int]]:
    counts = Counter(value for values in value_sets for value in values)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]


def _highlights(candidate: dict[str, Any], terms: Sequence[Term]) -> dict[str, str]:
    marked = {name: mark_matches(candidate[name], terms) for name in HIGHLIGHT_FIELDS} if terms else {}
    return {name: render_highlight(text) for name, text in marked.items() if text is not None}
