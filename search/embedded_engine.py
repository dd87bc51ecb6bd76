"""The default engine, with no service: SQLite (stdlib ``sqlite3``) in a file or in memory.

FTS5 indexes the same pre-segmented token strings as Elasticsearch (``search.analysis``), and a query
means the same: every term as a phrase in some field's characters, ranked by FTS5's BM25 with the same
field boosts. Visibility is an indexed ``IN`` over a path table; facet filtering and counting, sorting and
paging run in Python over the candidates, which is fine at catalog scale (thousands of courses).
Suggestion keys (``search.suggest``) are rows of a key table, prefix-matched as an indexed range.

An index is a *generation* of tables (``{prefix}courses_v3``, ``{prefix}course_text_v3``, …); the table
``{prefix}search_meta`` names the live one and, during a rebuild, the one being built, whose journal table
collects the ids every write touches. Every operation reads the meta row in the same transaction as the
data, so a switch is atomic for every process sharing the file.

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
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from search.analysis import TEXT_FIELDS, Term, highlight, segment_document
from search.documents import CourseDocument
from search.errors import SearchError, SearchUnavailable
from search.mapping import generation, is_current
from search.query import FACETS, RANGES, SORT_ORDERS, SearchHit, SearchHits, SearchQuery, Sort
from search.suggest import Candidate, Suggestion, collect_suggestions, suggest_request, suggestion_keys

_COLUMNS = [f"{name}_{kind}" for name in TEXT_FIELDS for kind in ("chars", "words")]
_CHARS = "{" + " ".join(column for column in _COLUMNS if column.endswith("_chars")) + "}"
_WORDS = "{" + " ".join(column for column in _COLUMNS if column.endswith("_words")) + "}"

_TABLES = {
    "courses": "courses",
    "paths": "course_paths",
    "text": "course_text",
    "keys": "suggest_keys",
    "journal": "journal",
}
"""Role -> table name, between the index prefix and the generation (``lms_courses_v3``)."""

_META = "CREATE TABLE IF NOT EXISTS {meta} (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_SCHEMA = (
    """CREATE TABLE {courses} (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        facets TEXT NOT NULL,  -- JSON: value facet name -> values
        hours REAL NOT NULL,
        duration_s INTEGER NOT NULL,
        published_at REAL,     -- Unix time
        popularity INTEGER NOT NULL,
        rating REAL NOT NULL)""",
    "CREATE TABLE {paths} (course INTEGER NOT NULL, path TEXT NOT NULL, PRIMARY KEY (course, path))"
    " WITHOUT ROWID",
    "CREATE VIRTUAL TABLE {text} USING fts5({columns}, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE TABLE {keys} (key TEXT NOT NULL, course INTEGER NOT NULL, head INTEGER NOT NULL,"
    " PRIMARY KEY (key, course)) WITHOUT ROWID",
    "CREATE INDEX {keys}_course ON {keys} (course)",
)
_JOURNAL = "CREATE TABLE {journal} (id TEXT PRIMARY KEY) WITHOUT ROWID"
_UPSERT = """INSERT INTO {courses} (id, version, title, summary, facets, hours, duration_s, published_at,
        popularity, rating)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, title = excluded.title, summary = excluded.summary,
        facets = excluded.facets, hours = excluded.hours, duration_s = excluded.duration_s,
        published_at = excluded.published_at, popularity = excluded.popularity, rating = excluded.rating
    WHERE excluded.version >= {courses}.version
    RETURNING rowid"""
_SELECT = (
    "SELECT c.id, c.title, c.summary, c.facets, c.hours, c.duration_s, c.published_at, c.popularity, c.rating"
)
_MATCHING = (
    _SELECT + ", -bm25({text}, {weights}) AS _score "
    "FROM {text} JOIN {courses} c ON c.rowid = {text}.rowid WHERE {text} MATCH ?"
)
_EVERYTHING = _SELECT + ", 0.0 AS _score FROM {courses} c WHERE 1"
_VISIBLE = (
    " AND EXISTS (SELECT 1 FROM {paths} p WHERE p.course = c.rowid"
    " AND p.path IN (SELECT value FROM json_each(?)))"
)
_SUGGEST = (
    "SELECT c.id, c.title, c.facets, c.popularity, max(k.head) AS head"
    " FROM {keys} k JOIN {courses} c ON c.rowid = k.course WHERE ({prefixes})"
)
_KEY_PREFIX = "(k.key >= ? AND k.key < ?)"
_AFTER_ALL = "\U0010ffff"
"""Sorts after every character of a key (keys are normalized: they never contain it)."""

_Prepared = tuple[CourseDocument, dict[str, str], dict[str, bool]]
"""A document with its segmented text and suggestion keys, computed before taking the lock."""


class EmbeddedEngine:
    def __init__(self, path: str = ":memory:", *, index_prefix: str = "lms_") -> None:
        if not re.fullmatch(r"\w*", index_prefix, re.ASCII):
            raise ValueError(f"index_prefix must be letters, digits and underscores: {index_prefix!r}")
        self.path = path
        self.index_prefix = index_prefix
        self._meta_table = f"{index_prefix}search_meta"
        self._generation_table = re.compile(
            rf"{index_prefix}(?:{'|'.join(_TABLES.values())})_(v\d+(?:_\d+)?)", re.ASCII
        )
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def _tables(self, gen: str) -> dict[str, str]:
        return {role: f"{self.index_prefix}{name}_{gen}" for role, name in _TABLES.items()}

    def _sql(self, template: str, tables: dict[str, str], **parts: str) -> str:
        """``template`` with table names (checked identifiers), FTS columns and ``parts`` filled in."""
        return template.format(
            **tables,
            **parts,
            meta=self._meta_table,
            columns=", ".join(_COLUMNS),
            placeholders=", ".join("?" * len(_COLUMNS)),
            weights=", ".join(str(TEXT_FIELDS[column.rpartition("_")[0]]) for column in _COLUMNS),
        )

    @contextmanager
    def _session(self, action: str, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, inside one transaction (``BEGIN IMMEDIATE`` to write)."""
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
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    raise self._missing(action) from exc
                raise SearchUnavailable(
                    f"SQLite search index {self.path} unusable while {action}: {exc}"
                ) from exc
            except sqlite3.Error as exc:
                raise SearchError(f"SQLite search index {self.path}: {action} failed: {exc}") from exc

    def _missing(self, action: str) -> SearchError:
        return SearchError(f"SQLite search index {self.path}: {action}: index missing; call ensure_index()")

    def _meta(self, conn: sqlite3.Connection, name: str) -> str | None:
        row = conn.execute(self._sql("SELECT value FROM {meta} WHERE name = ?", {}), (name,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, conn: sqlite3.Connection, name: str, value: str | None) -> None:
        if value is None:
            conn.execute(self._sql("DELETE FROM {meta} WHERE name = ?", {}), (name,))
        else:
            conn.execute(
                self._sql("INSERT OR REPLACE INTO {meta} (name, value) VALUES (?, ?)", {}), (name, value)
            )

    def _live(self, conn: sqlite3.Connection, action: str) -> dict[str, str]:
        gen = self._meta(conn, "live")
        if gen is None:
            raise self._missing(action)
        return self._tables(gen)

    def _create(self, conn: sqlite3.Connection, gen: str, *, journal: bool = False) -> None:
        self._drop_generation(conn, gen)  # leftovers of an interrupted run
        tables = self._tables(gen)
        for statement in (*_SCHEMA, _JOURNAL) if journal else _SCHEMA:
            conn.execute(self._sql(statement, tables))

    def _drop_generation(self, conn: sqlite3.Connection, gen: str) -> None:
        tables = self._tables(gen)
        for role in ("text", "keys", "paths", "courses", "journal"):
            conn.execute(f"DROP TABLE IF EXISTS {tables[role]}")

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
            conn.execute(self._sql(_META, {}))
            live = self._meta(conn, "live")
            if live is not None and is_current(live):
                return False
            gen = generation()
            self._create(conn, gen)
            self._set_meta(conn, "live", gen)
        return True

    def index(self, docs: Iterable[CourseDocument]) -> int:
        prepared = _prepare(docs)
        with self._session("indexing", write=True) as conn:
            written = self._write(conn, self._live(conn, "indexing"), prepared)
            self._journal(conn, [doc.id for doc, _, _ in prepared])
        return written

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        with self._session("deleting", write=True) as conn:
            self._remove(conn, self._live(conn, "deleting"), ids)
            self._journal(conn, ids)

    def _journal(self, conn: sqlite3.Connection, ids: Sequence[str]) -> None:
        """Note ``ids`` for the rebuild in progress, if any."""
        building = self._meta(conn, "building")
        if building is not None:
            insert = self._sql("INSERT OR IGNORE INTO {journal} (id) VALUES (?)", self._tables(building))
            conn.executemany(insert, [(course_id,) for course_id in ids])

    def _write(self, conn: sqlite3.Connection, tables: dict[str, str], prepared: Sequence[_Prepared]) -> int:
        upsert = self._sql(_UPSERT, tables)
        insert_text = self._sql("INSERT INTO {text} (rowid, {columns}) VALUES (?, {placeholders})", tables)
        insert_paths = self._sql("INSERT OR IGNORE INTO {paths} (course, path) VALUES (?, ?)", tables)
        insert_keys = self._sql("INSERT INTO {keys} (key, course, head) VALUES (?, ?, ?)", tables)
        written = 0
        for doc, segmented, keys in prepared:
            stored = conn.execute(
                upsert,
                (
                    doc.id,
                    doc.version,
                    doc.title,
                    doc.summary,
                    json.dumps(_facet_values(doc), ensure_ascii=False),
                    doc.hours,
                    doc.duration_s,
                    doc.published_at.timestamp() if doc.published_at else None,
                    doc.popularity,
                    doc.rating,
                ),
            ).fetchone()
            if stored is None:  # a newer version is stored
                continue
            rowid = stored[0]
            self._forget(conn, tables, rowid)
            conn.execute(insert_text, (rowid, *(segmented[column] for column in _COLUMNS)))
            conn.executemany(insert_paths, [(rowid, path) for path in doc.visible_org_paths])
            conn.executemany(insert_keys, [(key, rowid, head) for key, head in keys.items()])
            written += 1
        return written

    def _remove(self, conn: sqlite3.Connection, tables: dict[str, str], ids: Iterable[str]) -> None:
        delete = self._sql("DELETE FROM {courses} WHERE id = ? RETURNING rowid", tables)
        for course_id in ids:
            row = conn.execute(delete, (course_id,)).fetchone()
            if row is not None:
                self._forget(conn, tables, row[0])

    def _forget(self, conn: sqlite3.Connection, tables: dict[str, str], rowid: int) -> None:
        """Remove a course's text, paths and keys (before rewriting or after deleting it)."""
        for statement in (
            "DELETE FROM {text} WHERE rowid = ?",
            "DELETE FROM {paths} WHERE course = ?",
            "DELETE FROM {keys} WHERE course = ?",
        ):
            conn.execute(self._sql(statement, tables), (rowid,))

    def search(self, query: SearchQuery) -> SearchHits:
        terms = query.terms
        if query.text.strip() and not terms:  # text, but nothing searchable in it
            return SearchHits(total=0, hits=[], facets={facet: [] for facet in FACETS})
        sql, params = (_MATCHING, [_match_expression(terms)]) if terms else (_EVERYTHING, [])
        if query.visibility is not None:
            sql += _VISIBLE
            params.append(json.dumps(sorted(query.visibility)))
        with self._session("searching") as conn:
            candidates = [
                dict(row) for row in conn.execute(self._sql(sql, self._live(conn, "searching")), params)
            ]
        for candidate in candidates:
            candidate["values"] = json.loads(candidate["facets"])
            candidate["facets"] = {
                **{name: set(values) for name, values in candidate["values"].items()},
                **{
                    facet: {bucket.key for bucket in buckets if candidate[FACETS[facet]] in bucket}
                    for facet, buckets in RANGES.items()
                },
            }
        selected = {facet: set(values) for facet, values in query.filters.items()}
        facets = {
            facet: _buckets(
                facet,
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
            SearchHit(
                id=c["id"],
                score=c["_score"] if relevance else None,
                highlights=highlight(c, terms),
                title=c["title"],
                kind=(c["values"]["kind"] or [""])[0],
                hours=c["hours"],
                duration_s=c["duration_s"],
                tags=tuple(c["values"]["tags"]),
            )
            for c in matches[query.offset : query.offset + query.per_page]
        ]
        return SearchHits(total=len(matches), hits=hits, facets=facets)

    def suggest(
        self, prefix: str, *, visible_to_paths: Collection[str] | None, limit: int = 10
    ) -> list[Suggestion]:
        request = suggest_request(prefix, visible_to_paths, limit)
        if request is None:
            return []
        sql = _SUGGEST
        params: list[Any] = [bound for probe in request.probes for bound in (probe, probe + _AFTER_ALL)]
        if request.visibility is not None:
            sql += _VISIBLE
            params.append(json.dumps(sorted(request.visibility)))
        sql += " GROUP BY c.rowid ORDER BY head DESC, c.popularity DESC, c.id LIMIT ?"
        params.append(request.candidates)
        prefixes = " OR ".join([_KEY_PREFIX] * len(request.probes))
        with self._session("suggesting") as conn:
            rows = conn.execute(
                self._sql(sql, self._live(conn, "suggesting"), prefixes=prefixes), params
            ).fetchall()
        candidates = []
        for row in rows:
            facets = json.loads(row["facets"])
            candidates.append(
                Candidate(row["id"], row["title"], facets["tags"], facets["teacher"], row["popularity"])
            )
        return collect_suggestions(request, candidates)

    def begin_rebuild(self, *, force: bool = False) -> EmbeddedBuild:
        with self._session("starting a rebuild", write=True) as conn:
            conn.execute(self._sql(_META, {}))
            running = self._meta(conn, "building")
            if running is not None:
                if not force:
                    raise SearchError(
                        f"SQLite search index {self.path}: a rebuild into {running} is running"
                        " (if it was interrupted, rebuild with force=True)"
                    )
                self._drop_generation(conn, running)
            gen = generation(rebuild=True)
            self._create(conn, gen, journal=True)
            self._set_meta(conn, "building", gen)
        return EmbeddedBuild(self, gen)

    def refresh(self) -> None:
        """Nothing to do: a committed write is visible at once."""

    def count(self) -> int:
        with self._session("counting") as conn:
            count = self._sql("SELECT count(*) FROM {courses}", self._live(conn, "counting"))
            return int(conn.execute(count).fetchone()[0])

    def drop(self) -> None:
        with self._session("dropping the index", write=True) as conn:
            names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for gen in {match[1] for name in names if (match := self._generation_table.fullmatch(name))}:
                self._drop_generation(conn, gen)
            conn.execute(f"DROP TABLE IF EXISTS {self._meta_table}")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class EmbeddedBuild:
    """A generation of tables being built (``EmbeddedEngine.begin_rebuild``)."""

    def __init__(self, engine: EmbeddedEngine, gen: str) -> None:
        self._engine = engine
        self._gen = gen
        self._tables = engine._tables(gen)
        self.name = self._tables["courses"]
        self._old: str | None = None
        self._switched = False

    @contextmanager
    def _session(self, action: str) -> Iterator[sqlite3.Connection]:
        """A write transaction, refused if this build was discarded (a forced rebuild) before its switch."""
        with self._engine._session(action, write=True) as conn:
            if not self._switched and self._engine._meta(conn, "building") != self._gen:
                raise SearchError(f"{action}: the rebuild into {self.name} was discarded by another one")
            yield conn

    def index(self, docs: Iterable[CourseDocument]) -> int:
        prepared = _prepare(docs)
        with self._session("loading the new index") as conn:
            return self._engine._write(conn, self._tables, prepared)

    def delete(self, ids: Iterable[str]) -> None:
        with self._session("deleting from the new index") as conn:
            self._engine._remove(conn, self._tables, ids)

    def take_written(self) -> list[str]:
        with self._session("reading the rebuild journal") as conn:
            taken = conn.execute(self._engine._sql("DELETE FROM {journal} RETURNING id", self._tables))
            return [row[0] for row in taken]

    def switch(self) -> None:
        with self._session("switching to the new index") as conn:
            self._old = self._engine._meta(conn, "live")
            self._engine._set_meta(conn, "live", self._gen)
            self._engine._set_meta(conn, "building", None)
        self._switched = True

    def finish(self) -> None:
        with self._engine._session("removing the old index", write=True) as conn:
            if self._old is not None:
                self._engine._drop_generation(conn, self._old)
            conn.execute(f"DROP TABLE IF EXISTS {self._tables['journal']}")

    def abort(self) -> None:
        with self._engine._session("aborting the rebuild", write=True) as conn:
            if self._engine._meta(conn, "building") == self._gen:
                self._engine._set_meta(conn, "building", None)
            self._engine._drop_generation(conn, self._gen)


def _prepare(docs: Iterable[CourseDocument]) -> list[_Prepared]:
    return [(doc, segment_document(doc), suggestion_keys(doc)) for doc in docs]


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


def _buckets(facet: str, value_sets: Iterable[set[str]], size: int) -> list[tuple[str, int]]:
    """Value counts: a range facet's in its bucket order, another's by count, then value."""
    counts = Counter(value for values in value_sets for value in values)
    if facet in RANGES:
        return [(bucket.key, counts[bucket.key]) for bucket in RANGES[facet] if counts[bucket.key]][:size]
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]
