"""Engine fixtures: every contract test runs once on the embedded engine and once on a real Elasticsearch.

Elasticsearch comes from LMS_ELASTICSEARCH_URL. Each session uses its own index prefix (test_<random>_),
and every index a test creates is dropped at its end.

Org tree of the sample catalog: province /1/ > city /1/2/ > county A /1/2/3/ (unit /1/2/3/7/) and
county B /1/2/4/; another city /1/5/. Every course but c08 has hours and a duration, spread over the
range facets' buckets, some right on a bound.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from search import CourseDocument, SearchEngine, SearchUnavailable, create_engine
from search.elasticsearch_engine import ElasticsearchEngine
from search.embedded_engine import EmbeddedEngine
from tests.service_guard import env, need_service

SESSION_PREFIX = f"test_{secrets.token_hex(4)}_"
_names = itertools.count()

BACKENDS = ["embedded", pytest.param("elasticsearch", marks=pytest.mark.service("elasticsearch"))]


def _day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 8, tzinfo=UTC)


COURSES = (
    CourseDocument(
        id="c01",
        title="新时代党性教育专题培训",
        summary="以党章为根本遵循，引导党员干部加强党性修养、坚定理想信念。",
        tags=("党性教育", "理想信念"),
        teachers=("王建国",),
        lesson_titles=("党性修养的时代内涵", "牢记初心使命"),
        category="党性教育",
        kind="video",
        hours=2.0,
        duration_s=5400,
        visible_org_paths=("/1/",),
        published_at=_day(2026, 3, 1),
        popularity=900,
        rating=4.8,
        version=1,
    ),
    CourseDocument(
        id="c02",
        title="党性教育与作风建设",
        summary="结合典型案例，讲授党性教育的基本要求和作风建设的实践路径。",
        tags=("党性教育", "作风建设"),
        teachers=("李红梅",),
        category="党性教育",
        kind="audio",
        hours=0.5,
        duration_s=900,
        visible_org_paths=("/1/",),
        published_at=_day(2026, 1, 10),
        popularity=300,
        rating=4.5,
        version=1,
    ),
    CourseDocument(
        id="c03",
        title="习近平新时代中国特色社会主义思想概论",
        summary="系统阐释党的创新理论的核心要义、精神实质和实践要求。",
        tags=("党的创新理论",),
        teachers=("张卫东", "王建国"),
        category="理论教育",
        kind="video",
        hours=4.0,
        duration_s=3600,
        visible_org_paths=("/1/",),
        published_at=_day(2025, 12, 1),
        popularity=1500,
        rating=4.9,
        version=1,
    ),
    CourseDocument(
        id="c04",
        title="党的基本理论十讲",
        summary="讲授党的基本理论，帮助干部在学思践悟中提升党性修养。",
        tags=("党的基本理论",),
        teachers=("张卫东",),
        category="理论教育",
        kind="video",
        hours=6.0,
        duration_s=7200,
        visible_org_paths=("/1/2/",),
        published_at=_day(2025, 10, 1),
        popularity=700,
        rating=4.6,
        version=1,
    ),
    CourseDocument(
        id="c05",
        title="乡村振兴战略与基层治理",
        summary="围绕产业兴旺、生态宜居，解析县域推进乡村振兴的经验做法。",
        tags=("乡村振兴", "基层治理"),
        teachers=("刘志强",),
        category="履职能力",
        kind="video",
        hours=1.0,
        duration_s=2400,
        visible_org_paths=("/1/2/3/",),
        published_at=_day(2026, 2, 15),
        popularity=120,
        rating=4.2,
        version=1,
    ),
    CourseDocument(
        id="c06",
        title="全面从严治党与廉洁自律",
        summary="把党性教育贯穿全面从严治党全过程，筑牢拒腐防变的思想防线。",
        tags=("全面从严治党", "廉政教育"),
        teachers=("陈静",),
        category="党性教育",
        kind="micro",
        hours=0.25,
        duration_s=600,
        visible_org_paths=("/1/",),
        published_at=_day(2025, 11, 20),
        popularity=650,
        rating=4.7,
        version=1,
    ),
    CourseDocument(
        id="c07",
        title="县域经济高质量发展案例",
        summary="剖析县域特色产业和营商环境优化的典型经验。",
        tags=("高质量发展",),
        teachers=("赵磊",),
        category="履职能力",
        kind="video",
        hours=1.5,
        duration_s=1800,
        visible_org_paths=("/1/2/4/",),
        published_at=_day(2026, 2, 1),
        popularity=80,
        rating=4.0,
        version=1,
    ),
    CourseDocument(
        id="c08",
        title="应急管理与安全生产",
        summary="提升突发事件应对与风险防范能力，压实安全生产责任。",
        tags=("应急管理", "安全生产"),
        teachers=("孙丽",),
        category="履职能力",
        kind="audio",
        visible_org_paths=("/1/5/",),
        published_at=_day(2025, 9, 1),
        popularity=400,
        rating=4.3,
        version=1,
    ),
    CourseDocument(
        id="c09",
        title="干部教育培训工作条例解读",
        summary="逐条解读条例要求，明确各级组织的培训职责。",
        tags=("干部教育培训",),
        teachers=("李红梅",),
        category="理论教育",
        kind="micro",
        hours=0.5,
        duration_s=1200,
        visible_org_paths=("/1/",),
        published_at=None,
        popularity=50,
        rating=3.9,
        version=1,
    ),
    CourseDocument(
        id="c10",
        title="数字政府建设与数据安全",
        summary="介绍政务数据共享、一网通办和网络安全防护。",
        tags=("数字政府", "网络安全"),
        teachers=("周敏",),
        category="知识拓展",
        kind="video",
        hours=3.0,
        duration_s=2700,
        visible_org_paths=("/1/",),
        published_at=_day(2026, 3, 10),
        popularity=200,
        rating=4.4,
        version=1,
    ),
    CourseDocument(
        id="c11",
        title="Python数据分析入门",
        summary="Python & pandas <入门>：用数据支撑科学决策。",
        tags=("数字技能",),
        teachers=("吴昊",),
        category="知识拓展",
        kind="video",
        hours=1.0,
        duration_s=3000,
        visible_org_paths=("/1/",),
        published_at=_day(2025, 8, 1),
        popularity=500,
        rating=4.1,
        version=1,
    ),
    CourseDocument(
        id="c12",
        title="红色文化与革命传统教育",
        summary="走进革命旧址，传承红色基因，坚定理想信念。",
        tags=("红色文化", "理想信念"),
        teachers=("王建国",),
        category="党性教育",
        kind="video",
        hours=2.0,
        duration_s=4000,
        visible_org_paths=("/1/2/3/7/",),
        published_at=_day(2025, 7, 1),
        popularity=60,
        rating=4.6,
        version=1,
    ),
)


def _open(backend: str, name: str, tmp_path: Path | None = None) -> SearchEngine:
    if backend == "embedded":
        return create_engine("embedded", path=str(tmp_path / "search.sqlite") if tmp_path else None)
    url = env("LMS_ELASTICSEARCH_URL")
    need_service("elasticsearch", available=url is not None, why="LMS_ELASTICSEARCH_URL is not set")
    engine = create_engine("elasticsearch", url=url, index_prefix=f"{SESSION_PREFIX}{name}_")
    try:
        engine.ping()
    except SearchUnavailable as exc:
        engine.close()
        need_service("elasticsearch", available=False, why=str(exc))
    return engine


@contextmanager
def _catalog(backend: str) -> Iterator[SearchEngine]:
    engine = _open(backend, f"catalog{next(_names)}")
    engine.ensure_index()
    engine.index(COURSES)
    engine.refresh()
    yield engine
    engine.drop()
    engine.close()


@pytest.fixture(scope="module", params=BACKENDS)
def catalog(request: pytest.FixtureRequest) -> Iterator[SearchEngine]:
    """An index holding COURSES, shared by a module's read-only tests (the embedded one in memory)."""
    with _catalog(request.param) as engine:
        yield engine


@pytest.fixture(scope="module")
def twin_catalogs() -> Iterator[tuple[SearchEngine, SearchEngine]]:
    """The embedded and the Elasticsearch catalog side by side."""
    with _catalog("elasticsearch") as elasticsearch, _catalog("embedded") as embedded:
        yield embedded, elasticsearch


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    """An empty index of its own (the embedded one in a file)."""
    engine = _open(request.param, f"t{next(_names)}", tmp_path)
    engine.ensure_index()
    yield engine
    engine.drop()
    engine.close()


@pytest.fixture
def twin(engine: SearchEngine) -> Iterator[SearchEngine]:
    """A second engine on ``engine``'s index, as another process of the app would open it."""
    if isinstance(engine, EmbeddedEngine):
        other: SearchEngine = EmbeddedEngine(engine.path, index_prefix=engine.index_prefix)
    else:
        assert isinstance(engine, ElasticsearchEngine)
        other = ElasticsearchEngine(engine.location, index_prefix=engine.index_prefix)
    yield other
    other.close()


@pytest.fixture
def elasticsearch_engine() -> Iterator[SearchEngine]:
    """An Elasticsearch engine of its own, with no index yet."""
    engine = _open("elasticsearch", f"t{next(_names)}")
    yield engine
    engine.drop()
    engine.close()


@pytest.fixture
def course() -> Callable[..., CourseDocument]:
    """Build a small course visible province-wide: ``course("x1", title=..., version=2)``."""

    def build(course_id: str, *, title: str = "课程", **fields: Any) -> CourseDocument:
        return CourseDocument(id=course_id, title=title, **{"visible_org_paths": ("/1/",), **fields})

    return build
