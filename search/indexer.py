"""Rebuilding the index from scratch with no downtime, while the app keeps searching and writing.

``rebuild`` fills a new physical index beside the live one, then switches to it atomically (Elasticsearch:
one ``update_aliases`` call; embedded: one transaction) and deletes the old one. Searches use the old index
until the switch, the new one after it.

Writes during a rebuild are not lost, and callers need not pause them: ``engine.index()`` and
``engine.delete()`` keep writing the live index as usual (so searches stay current) and, in any process,
also journal the ids they touch. The rebuild replays the journal from the source of truth: it asks
``reload`` for the current documents of those ids, writes them to the new index, and deletes the ids it
gets no document for. It does so before the switch, and once more after it for writes that raced the
switch. Reloading rather than copying the writes is what makes this safe: a document read by
``documents`` before a concurrent update or delete and loaded after it is corrected by the replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from search.documents import CourseDocument
from search.engine import IndexBuild, SearchEngine

T = TypeVar("T")

Reload = Callable[[Sequence[str]], Iterable[CourseDocument]]
"""The current documents for some ids; an id with none (deleted, unpublished) is removed from the index."""

CATCH_UP_ROUNDS = 5
"""Journal replays before the switch, at most: under steady writes the journal never runs dry."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    index: str
    """The new physical index (Elasticsearch) or courses table (embedded), now live."""
    documents: int
    """Documents loaded from ``documents``."""
    replayed: int
    """Ids written during the rebuild and reloaded."""
    seconds: float


def rebuild(
    engine: SearchEngine,
    documents: Iterable[CourseDocument],
    *,
    reload: Reload,
    batch_size: int = 500,
    force: bool = False,
) -> RebuildReport:
    """Build a new index from ``documents`` and switch to it (see the module doc).

    ``documents`` must read the source of truth lazily, i.e. only once iterated (a generator): a write
    committed before the rebuild starts journaling is then seen by it. ``reload`` is called with at most
    ``batch_size`` ids at a time.

    One rebuild at a time: if another one is running, ``SearchError``; ``force=True`` discards it instead
    (after a crash). On any error before the switch the new index is deleted and the live one stays as it
    was; an error after the switch leaves the new index live but maybe missing writes made during the
    rebuild: run it again.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    started = time.monotonic()
    build = engine.begin_rebuild(force=force)
    try:
        loaded = sum(build.index(batch) for batch in _batches(documents, batch_size))
        replayed = 0
        for _ in range(CATCH_UP_ROUNDS):
            caught_up = _replay(build, reload, batch_size)
            if not caught_up:
                break
            replayed += caught_up
        build.switch()
    except BaseException:
        build.abort()
        raise
    while caught_up := _replay(build, reload, batch_size):  # ends: nothing is journaled after the switch
        replayed += caught_up
    build.finish()
    return RebuildReport(build.name, loaded, replayed, time.monotonic() - started)


def _replay(build: IndexBuild, reload: Reload, batch_size: int) -> int:
    """Reload the ids journaled so far into the new index; return how many there were."""
    ids = build.take_written()
    for batch in _batches(ids, batch_size):
        current = list(reload(batch))
        build.index(current)
        build.delete(sorted(set(batch) - {doc.id for doc in current}))
    return len(ids)


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
