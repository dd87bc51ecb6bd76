"""Elasticsearch 9 engine.

The app reads and writes the alias ``{prefix}courses``, pointing at a physical index of the current
mapping: ``{prefix}courses_v{MAPPING_VERSION}`` at first, ``…_v{MAPPING_VERSION}_<timestamp>`` after a
rebuild. Writes use external versioning (``external_gte``), so a stale write loses. Only core features are
used (the whitespace analyzer, terms and filters aggregations, prefix queries), so the minimal
integ-test-zip works. Searches ask for the shard request cache, which Elasticsearch empties whenever the
index changes, so a repeated search costs little and is never stale.

During a rebuild the new index has the alias ``{prefix}courses_next``, and a journal index (one empty
document per written id) the alias ``{prefix}courses_journal``; each write first journals its ids there,
if that alias exists, then writes the live index. The switch moves the live alias and removes both
rebuild aliases in one ``update_aliases`` call.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError, helpers

from search.analysis import highlight
from search.documents import CourseDocument
from search.errors import SearchError, SearchUnavailable
from search.mapping import INDEX_BODY, generation, is_current, to_source
from search.query import FACETS, RANGES, SearchHit, SearchHits, SearchQuery, Sort, build_search_body
from search.suggest import Candidate, Suggestion, build_suggest_body, collect_suggestions, suggest_request

_STALE = "version_conflict_engine_exception"
_JOURNAL_BODY: dict[str, Any] = {
    "settings": INDEX_BODY["settings"],
    "mappings": {"dynamic": "strict", "properties": {}},
}


class ElasticsearchEngine:
    def __init__(self, url: str, *, index_prefix: str = "lms_", timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.location = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no credentials
        self.index_prefix = index_prefix
        self.alias = f"{index_prefix}courses"
        self.index_name = f"{self.alias}_{generation()}"
        self.next_alias = f"{self.alias}_next"
        self.journal_alias = f"{self.alias}_journal"
        self._client = Elasticsearch(url, request_timeout=timeout, max_retries=1, retry_on_timeout=False)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except TransportError as exc:
            message = f"Elasticsearch at {self.location} unreachable while {action}: {exc}"
            raise SearchUnavailable(message) from exc
        except NotFoundError as exc:
            raise SearchError(f"index {self.alias} not found while {action}; call ensure_index()") from exc
        except ApiError as exc:
            error = SearchUnavailable if exc.status_code >= 500 or exc.status_code == 429 else SearchError
            raise error(f"Elasticsearch {action} failed ({exc.status_code}): {exc.message}") from exc

    def _aliased(self, alias: str) -> set[str]:
        """The indices ``alias`` points at (none if it does not exist)."""
        indices = self._client.indices
        return set(indices.get_alias(name=alias)) if indices.exists_alias(name=alias) else set()

    def ping(self) -> None:
        try:
            with self._errors("pinging"):
                self._client.cluster.health()  # not info(): the minimal distribution has no GET /
        except SearchError as exc:
            raise SearchUnavailable(str(exc)) from exc

    def ensure_index(self) -> bool:
        """Unless the alias points at an index of the current mapping, create ``index_name`` if missing and
        point the alias at it (atomically, away from older ones, which are kept)."""
        created = False
        with self._errors("creating the index"):
            current = self._aliased(self.alias)
            if len(current) == 1 and is_current(next(iter(current)).removeprefix(f"{self.alias}_")):
                return False
            indices = self._client.indices
            if not indices.exists(index=self.index_name):
                try:
                    indices.create(index=self.index_name, **INDEX_BODY)
                    created = True
                except BadRequestError as exc:  # another process created it first
                    if exc.error != "resource_already_exists_exception":
                        raise
            if current != {self.index_name}:
                indices.update_aliases(actions=self._alias_moves(current, self.index_name))
        return created

    def _alias_moves(self, current: Iterable[str], target: str) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = [
            {"remove": {"index": old, "alias": self.alias}} for old in sorted(set(current) - {target})
        ]
        actions.append({"add": {"index": target, "alias": self.alias, "is_write_index": True}})
        return actions

    def index(self, docs: Iterable[CourseDocument]) -> int:
        docs = list(docs)
        self._journal([doc.id for doc in docs])
        return self._bulk(_index_actions(self.alias, docs), action="indexing")

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self._journal(ids)
        self._bulk(_delete_actions(self.alias, ids), action="deleting")

    def _journal(self, ids: list[str]) -> None:
        """Note ``ids`` for the rebuild in progress, if any, before the write itself: whatever index the
        write then lands in, the rebuild sees the id, unless it has switched already."""
        with self._errors("journaling for the rebuild"):
            running = bool(ids) and self._client.indices.exists_alias(name=self.journal_alias)
        if running:
            actions = ({"_index": self.journal_alias, "_id": course_id, "_source": {}} for course_id in ids)
            self._bulk(actions, action="journaling for the rebuild", gone="index_not_found_exception")

    def _bulk(
        self, actions: Iterable[dict[str, Any]], *, action: str, require_alias: bool = True, gone: str = ""
    ) -> int:
        """Run bulk ``actions`` (on an alias unless told otherwise: never auto-creating an index); return
        how many took effect.

        Not failures: a stale version (a newer one is stored), deleting a missing document, and errors of
        type ``gone`` (the target was removed meanwhile).
        """
        done, failures = 0, []
        with self._errors(action):
            for ok, item in helpers.streaming_bulk(
                self._client, actions, raise_on_error=False, require_alias=require_alias
            ):
                result = next(iter(item.values()))
                error = result.get("error", {}).get("type")
                if ok:
                    done += 1
                elif result.get("result") != "not_found" and error not in (_STALE, gone):
                    failures.append(result)
        if failures:
            raise SearchError(
                f"{action}: {len(failures)} bulk item(s) failed, first: {failures[0].get('error')}"
            )
        return done

    def search(self, query: SearchQuery) -> SearchHits:
        with self._errors("searching"):
            # The shard request cache keeps the query phase (hits and facet counts) of a repeated search
            # until the index next changes: popular searches and the unfiltered catalog page are repeats.
            response = self._client.search(
                index=self.alias, body=build_search_body(query), request_cache=True
            )
        relevance = query.sort is Sort.RELEVANCE
        terms = query.terms
        hits = [
            SearchHit(
                id=hit["_id"],
                score=hit["_score"] if relevance else None,
                highlights=highlight(source, terms),
                title=source["title"],
                kind=source.get("kind") or "",
                hours=float(source["hours"]),
                duration_s=int(source["duration_s"]),
                tags=tuple(source["tags"]),
            )
            for hit in response["hits"]["hits"]
            for source in [hit["_source"]]
        ]
        aggregations = response.get("aggregations", {})
        facets = {
            facet: _buckets(facet, aggregations[facet]["values"]["buckets"], query.facet_size)
            for facet in FACETS
        }
        return SearchHits(total=response["hits"]["total"]["value"], hits=hits, facets=facets)

    def suggest(
        self, prefix: str, *, visible_to_paths: Collection[str] | None, limit: int = 10
    ) -> list[Suggestion]:
        request = suggest_request(prefix, visible_to_paths, limit)
        if request is None:
            return []
        with self._errors("suggesting"):
            response = self._client.search(
                index=self.alias, body=build_suggest_body(request), request_cache=True
            )
        candidates = [
            Candidate(hit["_id"], source["title"], source["tags"], source["teachers"], source["popularity"])
            for hit in response["hits"]["hits"]
            for source in [hit["_source"]]
        ]
        return collect_suggestions(request, candidates)

    def begin_rebuild(self, *, force: bool = False) -> ElasticsearchBuild:
        with self._errors("starting a rebuild"):
            running = self._aliased(self.next_alias) | self._aliased(self.journal_alias)
            if running:
                if not force:
                    raise SearchError(
                        f"a rebuild into {sorted(running)} is running (if it was interrupted, rebuild with"
                        " force=True)"
                    )
                self._client.indices.delete(index=",".join(sorted(running)), ignore_unavailable=True)
            name = f"{self.alias}_{generation(rebuild=True)}"
            self._client.indices.create(
                index=name,
                settings={**INDEX_BODY["settings"], "refresh_interval": "-1"},  # refreshed at the switch
                mappings=INDEX_BODY["mappings"],
                aliases={self.next_alias: {"is_write_index": True}},
            )
            self._client.indices.create(
                index=f"{name}_journal", **_JOURNAL_BODY, aliases={self.journal_alias: {}}
            )
        return ElasticsearchBuild(self, name)

    def refresh(self) -> None:
        with self._errors("refreshing"):
            self._client.indices.refresh(index=self.alias)

    def count(self) -> int:
        with self._errors("counting"):
            return int(self._client.count(index=self.alias)["count"])

    def drop(self) -> None:
        """Delete every versioned index of this prefix, rebuilds and journals included (aliases go too)."""
        with self._errors("dropping the index"):
            names = self._client.indices.get(index=f"{self.alias}_v*", expand_wildcards="all")
            if names:
                self._client.indices.delete(index=",".join(names))

    def close(self) -> None:
        self._client.close()


class ElasticsearchBuild:
    """A physical index being built (``ElasticsearchEngine.begin_rebuild``). Its writes go through the
    ``…_next`` alias, then, once switched, through the live one: never to a name that could be
    auto-created."""

    def __init__(self, engine: ElasticsearchEngine, name: str) -> None:
        self._engine = engine
        self._client = engine._client
        self.name = name
        self._journal_index = f"{name}_journal"
        self._target = engine.next_alias
        self._old: set[str] = set()

    def index(self, docs: Iterable[CourseDocument]) -> int:
        return self._engine._bulk(_index_actions(self._target, docs), action="loading the new index")

    def delete(self, ids: Iterable[str]) -> None:
        self._engine._bulk(_delete_actions(self._target, ids), action="deleting from the new index")

    def take_written(self) -> list[str]:
        """Up to 10,000 ids at a time; an id journaled again meanwhile stays for the next call."""
        with self._engine._errors("reading the rebuild journal"):
            self._client.indices.refresh(index=self._journal_index)
            hits = self._client.search(
                index=self._journal_index, size=10_000, seq_no_primary_term=True, source=False, sort=["_doc"]
            )["hits"]["hits"]
        actions = (
            {
                "_op_type": "delete",
                "_index": self._journal_index,
                "_id": hit["_id"],
                "if_seq_no": hit["_seq_no"],
                "if_primary_term": hit["_primary_term"],
            }
            for hit in hits
        )
        self._engine._bulk(actions, action="clearing the rebuild journal", require_alias=False)
        return [hit["_id"] for hit in hits]

    def switch(self) -> None:
        engine = self._engine
        with engine._errors("switching to the new index"):
            indices = self._client.indices
            indices.put_settings(index=self.name, settings={"index": {"refresh_interval": None}})
            indices.refresh(index=self.name)
            self._old = engine._aliased(engine.alias)
            # must_exist: fails, changing nothing, if a forced rebuild discarded this one
            rebuild_aliases = [(self.name, engine.next_alias), (self._journal_index, engine.journal_alias)]
            indices.update_aliases(
                actions=[
                    *engine._alias_moves(self._old, self.name),
                    *({"remove": {"index": i, "alias": a, "must_exist": True}} for i, a in rebuild_aliases),
                ]
            )
        self._target = engine.alias

    def finish(self) -> None:
        with self._engine._errors("removing the old index"):
            self._client.indices.delete(
                index=",".join(sorted({*self._old, self._journal_index})), ignore_unavailable=True
            )

    def abort(self) -> None:
        with self._engine._errors("aborting the rebuild"):
            self._client.indices.delete(index=f"{self.name},{self._journal_index}", ignore_unavailable=True)


def _index_actions(target: str, docs: Iterable[CourseDocument]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        yield {
            "_op_type": "index",
            "_index": target,
            "_id": doc.id,
            "version": doc.version,
            "version_type": "external_gte",
            "_source": to_source(doc),
        }


def _delete_actions(target: str, ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    for course_id in ids:
        yield {"_op_type": "delete", "_index": target, "_id": course_id}


def _buckets(facet: str, buckets: list[dict[str, Any]], size: int) -> list[tuple[str, int]]:
    """A facet's ``(value, count)`` pairs from its aggregation (``filters`` ones are in ``RANGES`` order)."""
    if facet in RANGES:
        counted = [
            (bucket.key, found["doc_count"]) for bucket, found in zip(RANGES[facet], buckets, strict=True)
        ]
        return [(key, count) for key, count in counted if count][:size]
    return [(bucket["key"], bucket["doc_count"]) for bucket in buckets]
