"""Embedded (SQLite) engine specifics: files, prefixes, threads and processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from search import CourseDocument, SearchQuery, SearchUnavailable, create_engine, rebuild
from search.embedded_engine import EmbeddedEngine


def _courses(prefix: str, count: int) -> list[CourseDocument]:
    return [
        CourseDocument(id=f"{prefix}{n}", title=f"乡村振兴第{n}讲", visible_org_paths=("/1/",))
        for n in range(count)
    ]


def _index_in_another_process(path: str, prefix: str) -> None:
    engine = EmbeddedEngine(path)
    for chunk in range(5):
        engine.index(_courses(f"{prefix}{chunk}-", 10))
    engine.close()


def test_unusable_path_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine("embedded", path=str(tmp_path / "missing" / "search.sqlite"))
    with pytest.raises(SearchUnavailable, match="unable to open"):
        engine.ping()


def test_index_prefixes_share_a_file_independently(tmp_path: Path) -> None:
    path = str(tmp_path / "search.sqlite")
    first, second = EmbeddedEngine(path, index_prefix="a_"), EmbeddedEngine(path, index_prefix="b_")
    for engine in (first, second):
        engine.ensure_index()
    first.index(_courses("x", 3))
    assert (first.count(), second.count()) == (3, 0)
    second.drop()
    assert first.count() == 3
    first.close()
    second.close()


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="index_prefix"):
        EmbeddedEngine(index_prefix="x; DROP TABLE y")


def test_threads_share_one_engine(tmp_path: Path) -> None:
    engine = EmbeddedEngine(str(tmp_path / "search.sqlite"))
    engine.ensure_index()

    def work(n: int) -> int:
        engine.index(_courses(f"t{n}-", 5))
        return engine.search(SearchQuery("乡村振兴")).total

    with ThreadPoolExecutor(max_workers=8) as pool:
        totals = list(pool.map(work, range(16)))
    assert all(total >= 5 for total in totals)
    assert engine.count() == 80
    engine.close()


def test_processes_share_a_file(tmp_path: Path) -> None:
    path = str(tmp_path / "search.sqlite")
    engine = EmbeddedEngine(path)
    engine.ensure_index()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_index_in_another_process, args=(path, f"p{n}-")) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert engine.count() == 150
    assert engine.search(SearchQuery("振兴", per_page=1)).total == 150
    engine.close()


def test_rebuild_replaces_the_tables(tmp_path: Path) -> None:
    path = str(tmp_path / "search.sqlite")
    engine, other = EmbeddedEngine(path), EmbeddedEngine(path, index_prefix="other_")
    for each in (engine, other):
        each.ensure_index()
        each.index(_courses("x", 3))
    before = _tables(path)
    report = rebuild(engine, iter(_courses("y", 2)), reload=lambda ids: [])
    assert report.index.startswith("lms_courses_v") and report.index not in before
    added, removed = _tables(path) - before, before - _tables(path)
    assert {name.split("_v")[0] for name in added} == {f"lms_{name}" for name in _ROLES}
    assert {name.split("_v")[0] for name in removed} == {f"lms_{name}" for name in _ROLES}
    assert not any("journal" in name for name in _tables(path))
    assert (engine.count(), other.count()) == (2, 3)
    engine.close()
    other.close()


_ROLES = ("courses", "course_paths", "course_text", "suggest_keys")


def _tables(path: str) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {name for name in names if name.split("_v")[0].endswith(_ROLES) or "journal" in name} - {
        name for name in names if name.endswith(("_data", "_idx", "_content", "_docsize", "_config"))
    }
