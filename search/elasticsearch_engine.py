"""Elasticsearch 9 engine.

The app reads and writes the alias ``{prefix}courses``, pointing at ``{prefix}courses_v{MAPPING_VERSION}``.
Writes use external versioning (``external_gte``), so a stale write loses. Only core features are used
(whitespace/standard analyzers, terms aggregations, highlighting), so the minimal integ-test-zip works.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError, helpers

from search.analysis import render_highlight
from search.documents import CourseDocument
from search.errors import SearchError, SearchUnavailable
from search.mapping import INDEX_BODY, MAPPING_VERSION, to_source
from search.query import FACETS, SearchHit, SearchHits, SearchQuery, Sort, build_search_body

_STALE = "version_conflict_engine_exception"


class ElasticsearchEngine:
    def __init__(self, url: str, *, index_prefix: str = "lms_", timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        self.location = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no credentials
        self.alias = f"{index_prefix}courses"
        self.index_name = f"{self.alias}_v{MAPPING_VERSION}"
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

    def ping(self) -> None:
        try:
            with self._errors("pinging"):
                self._client.cluster.health()  # not info(): the minimal distribution has no GET /
        except SearchError as exc:
            raise SearchUnavailable(str(exc)) from exc

    def ensure_index(self) -> bool:
        """Create the versioned index if missing; point the alias at it (atomically, away from older ones)."""
        created = False
        with self._errors("creating the index"):
            indices = self._client.indices
            if not indices.exists(index=self.index_name):
                try:
                    indices.create(index=self.index_name, **INDEX_BODY)
                    created = True
                except BadRequestError as exc:  # another process created it first
                    if exc.error != "resource_already_exists_exception":
                        raise
            current = (
                set(indices.get_alias(name=self.alias)) if indices.exists_alias(name=self.alias) else set()
            )
            if current != {self.index_name}:
                actions: list[dict[str, Any]] = [
                    {"remove": {"index": old, "alias": self.alias}}
                    for old in sorted(current - {self.index_name})
                ]
                actions.append(
                    {"add": {"index": self.index_name, "alias": self.alias, "is_write_index": True}}
                )
                indices.update_aliases(actions=actions)
        return created

    def index(self, docs: Iterable[CourseDocument]) -> int:
        actions = (
            {
                "_op_type": "index",
                "_index": self.alias,
                "_id": doc.id,
                "version": doc.version,
                "version_type": "external_gte",
                "_source": to_source(doc),
            }
            for doc in docs
        )
        return self._bulk(actions, action="indexing")

    def delete(self, ids: Iterable[str]) -> None:
        actions = ({"_op_type": "delete", "_index": self.alias, "_id": course_id} for course_id in ids)
        self._bulk(actions, action="deleting")

    def _bulk(self, actions: Iterable[dict[str, Any]], *, action: str) -> int:
        """Run bulk ``actions`` on the alias (never auto-creating an index); return how many took effect.

        Not failures: a stale version (a newer one is stored) and deleting a missing document.
        """
        done, failures = 0, []
        with self._errors(action):
            for ok, item in helpers.streaming_bulk(
                self._client, actions, raise_on_error=False, require_alias=True
            ):
                result = next(iter(item.values()))
                if ok:
                    done += 1
                elif result.get("result") != "not_found" and result.get("error", {}).get("type") != _STALE:
                    failures.append(result)
        if failures:
            raise SearchError(
                f"{action}: {len(failures)} bulk item(s) failed, first: {failures[0].get('error')}"
            )
        return done

    def search(self, query: SearchQuery) -> SearchHits:
        with self._errors("searching"):
            response = self._client.search(index=self.alias, body=build_search_body(query))
        relevance = query.sort is Sort.RELEVANCE
        hits = [
            SearchHit(
                id=hit["_id"],
                score=hit["_score"] if relevance else None,
                highlights={
                    name: render_highlight(parts[0]) for name, parts in hit.get("highlight", {}).items()
                },
            )
            for hit in response["hits"]["hits"]
        ]
        aggregations = response.get("aggregations", {})
        facets = {
            facet: [
                (bucket["key"], bucket["doc_count"]) for bucket in aggregations[facet]["values"]["buckets"]
            ]
            for facet in FACETS
        }
        return SearchHits(total=response["hits"]["total"]["value"], hits=hits, facets=facets)

    def refresh(self) -> None:
        with self._errors("refreshing"):
            self._client.indices.refresh(index=self.alias)

    def count(self) -> int:
        with self._errors("counting"):
            return int(self._client.count(index=self.alias)["count"])

    def drop(self) -> None:
        """Delete every versioned index of this prefix (the alias goes with them)."""
        with self._errors("dropping the index"):
            names = self._client.indices.get(index=f"{self.alias}_v*", expand_wildcards="all")
            if names:
                self._client.indices.delete(index=",".join(names))

    def close(self) -> None:
        self._client.close()
