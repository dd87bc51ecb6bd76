"""The interface every search engine implements."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from search.documents import CourseDocument
from search.query import SearchHits, SearchQuery


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
        rewritten (retries and re-segmentation are harmless).
        """

    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents by id; unknown ids are ignored."""

    def search(self, query: SearchQuery) -> SearchHits: ...

    def refresh(self) -> None:
        """Make every write so far visible to searches."""

    def count(self) -> int:
        """Number of documents in the index."""

    def drop(self) -> None:
        """Delete the index and its data (tests, full rebuilds)."""

    def close(self) -> None:
        """Release connections."""
