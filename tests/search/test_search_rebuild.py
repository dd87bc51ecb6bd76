"""Zero-downtime rebuilds: the same assertions on both engines.

``twin`` is a second engine on the same index, standing for another process of the app writing while the
rebuild runs. ``Source`` stands for the database: the documents and ``reload`` read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from search import CourseDocument, SearchEngine, SearchError, SearchQuery, rebuild
from search.indexer import CATCH_UP_ROUNDS

Course = Callable[..., CourseDocument]


def ids(engine: SearchEngine, text: str = "") -> set[str]:
    return {hit.id for hit in engine.search(SearchQuery(text, per_page=100)).hits}


class Source:
    """The source of truth: course id -> current document."""

    def __init__(self, docs: Sequence[CourseDocument]) -> None:
        self.docs = {doc.id: doc for doc in docs}
        self.reloaded: list[str] = []

    def stream(self, during: Callable[[int], None] = lambda n: None) -> Iterator[CourseDocument]:
        """Every document, as read at the start (a snapshot: stale by the time late ones are loaded);
        ``during(n)`` runs before the n-th one is yielded."""
        for n, doc in enumerate(list(self.docs.values())):
            during(n)
            yield doc

    def reload(self, course_ids: Sequence[str]) -> list[CourseDocument]:
        self.reloaded += course_ids
        return [self.docs[course_id] for course_id in course_ids if course_id in self.docs]


@pytest.fixture
def source(engine: SearchEngine, course: Course) -> Source:
    """An index and its source holding a1..a9 (乡村振兴第n讲)."""
    docs = [course(f"a{n}", title=f"乡村振兴第{n}讲", version=1) for n in range(1, 10)]
    engine.index(docs)
    engine.refresh()
    return Source(docs)


def test_rebuild_switches_to_a_new_index(engine: SearchEngine, source: Source, course: Course) -> None:
    source.docs = {"b1": course("b1", title="安全生产", hours=2.0, tags=("应急管理",))}
    report = rebuild(engine, source.stream(), reload=source.reload, batch_size=2)
    assert (report.documents, report.replayed) == (1, 0)
    assert ids(engine) == {"b1"}
    assert engine.count() == 1
    assert engine.search(SearchQuery(filters={"hours": ["1-2"]})).total == 1
    assert [s.text for s in engine.suggest("yingji", visible_to_paths=["/1/"])] == ["应急管理"]
    assert engine.ensure_index() is False  # the rebuilt index is of the current mapping: kept
    assert ids(engine) == {"b1"}


def test_searches_use_the_old_index_until_the_switch(engine: SearchEngine, source: Source) -> None:
    old = ids(engine)
    source.docs = {doc_id: doc for doc_id, doc in source.docs.items() if doc_id != "a1"}

    def search_meanwhile(n: int) -> None:
        engine.refresh()
        assert ids(engine) == old  # a1 still found, the new index not yet

    rebuild(engine, source.stream(during=search_meanwhile), reload=source.reload, batch_size=3)
    assert ids(engine) == old - {"a1"}


def test_writes_during_the_rebuild_are_kept(
    engine: SearchEngine, twin: SearchEngine, source: Source, course: Course
) -> None:
    def write_meanwhile(n: int) -> None:
        if n == 5:  # a4 has been read and loaded, a7 read but not yet loaded
            source.docs["a4"] = changed = course("a4", title="安全生产第4讲", version=2)
            twin.index([changed])
            source.docs["n1"] = created = course("n1", title="乡村振兴新篇", version=1)
            twin.index([created])
            for gone in ("a2", "a7"):
                del source.docs[gone]
            twin.delete(["a2", "a7"])
            twin.refresh()
            assert ids(engine, "乡村振兴") == {"a1", "a3", "a5", "a6", "a8", "a9", "n1"}  # live at once

    report = rebuild(engine, source.stream(during=write_meanwhile), reload=source.reload, batch_size=2)
    engine.refresh()
    assert ids(engine, "乡村振兴") == {"a1", "a3", "a5", "a6", "a8", "a9", "n1"}  # a7 not resurrected
    assert ids(engine, "安全生产") == {"a4"}
    assert engine.count() == 8
    assert report.documents == 9  # the stale snapshot, a7 included
    assert report.replayed == 4
    assert sorted(source.reloaded) == ["a2", "a4", "a7", "n1"]


def test_writes_while_catching_up_are_kept(
    engine: SearchEngine, twin: SearchEngine, source: Source, course: Course
) -> None:
    """Every reload races a new write: more rounds than the switch waits for, so the last journaled ones
    are replayed after the switch, and the very last write goes straight to the new live index."""
    writes = iter(range(1, CATCH_UP_ROUNDS + 2))

    def reload_and_write(course_ids: Sequence[str]) -> list[CourseDocument]:
        if (n := next(writes, None)) is not None:
            source.docs[f"w{n}"] = doc = course(f"w{n}", title=f"补充{n}")
            twin.index([doc])
        return source.reload(course_ids)

    def write_once(n: int) -> None:
        if n == 1:
            twin.index([source.docs["a1"]])

    report = rebuild(engine, source.stream(during=write_once), reload=reload_and_write)
    engine.refresh()
    written = {f"w{n}" for n in range(1, CATCH_UP_ROUNDS + 2)}
    assert ids(engine, "补充") == written
    assert report.replayed == CATCH_UP_ROUNDS + 1  # a1, w1 .. w5; w6 was written after the switch
    assert source.reloaded == ["a1", *sorted(written - {f"w{CATCH_UP_ROUNDS + 1}"})]


def test_one_rebuild_at_a_time(engine: SearchEngine, source: Source) -> None:
    interrupted = engine.begin_rebuild()  # as if its process had crashed
    with pytest.raises(SearchError, match="force=True"):
        rebuild(engine, source.stream(), reload=source.reload)
    rebuild(engine, source.stream(), reload=source.reload, force=True)
    assert ids(engine) == set(source.docs)
    with pytest.raises(SearchError):
        interrupted.switch()  # discarded: it can no longer take over
    assert ids(engine) == set(source.docs)


def test_a_failed_rebuild_changes_nothing(engine: SearchEngine, twin: SearchEngine, source: Source) -> None:
    def fail(n: int) -> None:
        if n == 3:
            raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        rebuild(engine, source.stream(during=fail), reload=source.reload)
    assert ids(engine) == set(source.docs)
    twin.delete(["a1"])  # no rebuild journals it any more
    source.docs.pop("a1")
    report = rebuild(engine, source.stream(), reload=source.reload)  # not blocked
    assert (report.documents, report.replayed) == (8, 0)
    assert ids(engine) == set(source.docs)


def test_rebuild_creates_a_missing_index(engine: SearchEngine, source: Source) -> None:
    engine.drop()
    rebuild(engine, source.stream(), reload=source.reload)
    assert engine.count() == 9


def test_batch_size_must_be_positive(engine: SearchEngine, source: Source) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        rebuild(engine, source.stream(), reload=source.reload, batch_size=0)
