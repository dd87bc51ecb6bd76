"""The interface every search engine implements."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from search.documents import CourseDocument
from search.query import SearchHits, SearchQuery
from search.suggest import Suggestion


class SearchEngine(Protocol):
    """A course index. Failures raise ``SearchError``; an unreachable backend raises ``SearchUnavailable``."""

    def ping(self) -> None:
        """Return if the backend is usable, else raise ``SearchUnavailable`` with the reason."""

    def ensure_index(self) -> bool:
        """Create the index for the current mapping if needed (idempotent).

        Returns ``True`` when a new, empty index was created: the caller should then reindex everything.
        """

    def index(self, docs: Iterable[CourseDocument]) -> int:
        """Insert or replace documents in bulk; return how many were written.

        A document whose ``version`` is lower than the stored one is skipped; an equal version is
        rewritten (retries and re-segmentation are harmless). While a rebuild runs, the ids are also
        journaled for it (see ``search.indexer``).
        """

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored. Journaled during a rebuild, like ``index``."""

    def search(self, query: SearchQuery) -> SearchHits: ...

    def suggest(
        self, prefix: str, *, visible_to_paths: Collection[str] | None, limit: int = 10
    ) -> list[Suggestion]:
        """Titles, tags and teacher names matching what was typed so far (see ``search.suggest``).

        Visibility as in ``SearchQuery``; at most ``limit`` (capped at ``MAX_SUGGESTIONS``). Any text is
        safe; a bad ``limit`` or org path raises ``InvalidQuery``.
        """

    def begin_rebuild(self, *, force: bool = False) -> IndexBuild:
        """Create a new, empty physical index beside the live one, and journal the ids of every write
        from now on (in any process) until it is switched to. Use ``search.indexer.rebuild``.

        Raises ``SearchError`` if a rebuild is already running; ``force`` discards that one instead (after
        a crash: it cannot switch any more).
        """

    def refresh(self) -> None:
        """Make every write so far visible to searches."""

    def count(self) -> int:
        """Number of documents in the index."""

    def drop(self) -> None:
        """Delete the index and its data, rebuilds included (tests)."""

    def close(self) -> None:
        """Release connections."""


class IndexBuild(Protocol):
    """A physical index being built beside the live one (``SearchEngine.begin_rebuild``)."""

    name: str
    """The new physical index (Elasticsearch) or courses table (embedded)."""

    def index(self, docs: Iterable[CourseDocument]) -> int:
        """Write into the new index only (versions as in ``SearchEngine.index``); not journaled."""

    def delete(self, ids: Iterable[str]) -> None:
        """Remove from the new index only; not journaled."""

    def take_written(self) -> list[str]:
        """The ids journaled since the rebuild began or since the last call, forgetting them."""

    def switch(self) -> None:
        """Atomically make the new index the live one: searches move to it and writes stop being
        journaled (their journal stays readable with ``take_written``)."""

    def finish(self) -> None:
        """After ``switch``: delete the old index and the journal."""

    def abort(self) -> None:
        """Before ``switch``: delete the new index and the journal; the live index stays as it was."""
