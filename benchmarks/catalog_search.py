"""Benchmark: catalog search and suggestions through the API with 20,000 published courses.

    eval "$(scripts/services.sh env)"       # PostgreSQL + Elasticsearch (else SQLite + embedded engine)
    .venv/bin/python benchmarks/catalog_search.py [--courses 20000] [--seconds 10] [--clients 1,4]

Builds a throwaway database (PostgreSQL: a new database dropped at the end), bulk-loads the courses,
times a full reindex into a fresh index, then drives the API on gunicorn from closed-loop clients (each
with its own keep-alive connection, as a browser has), twice: with the search engine, and with the engine
unreachable so the database answers (search degraded; no suggestions then). For each it runs
GET /api/v1/courses?q=… and GET /api/v1/courses/suggest?q=… at each client count and prints throughput
and p50/p95/p99.

The requests are spread the way people type and search: eight cadres of different units; searches for the
themes, theme + form, two-character words and two-word queries, pages 1 to 3; suggestions for what is
typed on the way to a theme (characters, full pinyin, initials such as ``dxjy``; a lone letter, which
never reaches the engine, is left out). On Elasticsearch the share of searches the shard request cache
answered is printed too (a search repeated before the index changes is one of them).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from gunicorn_server import gunicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks/out"

THEMES = [
    "习近平新时代中国特色社会主义思想",
    "党章党规党纪",
    "党性教育",
    "全面从严治党",
    "乡村振兴",
    "基层治理",
    "数字政府",
    "应急管理",
    "依法行政",
    "生态文明建设",
    "统计法治",
    "安全生产",
    "经济形势",
    "公文写作",
    "心理健康",
    "意识形态工作",
    "统一战线",
    "民族团结",
    "营商环境",
    "科技创新",
    "共同富裕",
    "国家安全",
]
FORMS = ["专题讲座", "案例解析", "微课", "十讲", "学习辅导", "实务与方法", "能力提升", "前沿问题", "政策解读"]
CADRES = [f"gb{n:04d}" for n in range(1, 9)]


def _search_texts() -> list[str]:
    """Themes, theme + form, a two-character word out of a theme, and two words."""
    rng = random.Random(7)
    texts = list(THEMES) + [f"{theme}{form}" for theme in THEMES[:8] for form in FORMS[:4]]
    texts += [theme[i : i + 2] for theme in THEMES for i in (0, 2) if len(theme) >= i + 2]
    texts += [f"{rng.choice(THEMES)} {rng.choice(FORMS)}" for _ in range(20)]
    return sorted(set(texts))


def _typed_prefixes() -> list[str]:
    """What is typed on the way to each theme: its characters, full pinyin and initials, one keystroke at a
    time (from two letters: a single letter is answered without the engine)."""
    from pypinyin import Style, lazy_pinyin

    typed: set[str] = set()
    for theme in THEMES:
        word = theme[:4]
        typed.update(word[:n] for n in range(1, len(word) + 1))
        for spelled in ("".join(lazy_pinyin(word)), "".join(lazy_pinyin(word, style=Style.FIRST_LETTER))):
            typed.update(spelled[:n] for n in range(2, min(len(spelled), 12) + 1))
    return sorted(typed)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LMS_TEST_DATABASE_URL", "LMS_REQUIRE_SERVICES")}
    return env | {
        "LMS_ENV": "production",
        "LMS_SECRET_KEY": "benchmark-secret-key-0123456789",
        "LMS_SESSION_COOKIE_SECURE": "0",
        "FLASK_APP": "wsgi:app",
    }


def _database(env: dict[str, str]) -> tuple[str, object]:
    """A fresh database URL, and a callable that drops it."""
    import sqlalchemy as sa

    base = env.get("LMS_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        path = OUT / f"catalog-{secrets.token_hex(3)}.sqlite"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    name = f"lms_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))

    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False), drop


def _load(app, count: int) -> None:  # type: ignore[no-untyped-def]
    """Bulk-insert ``count`` published courses province-wide (core inserts; the services take minutes)."""
    from sqlalchemy import insert, select

    from lms.accounts.models import Organization, User
    from lms.catalog.models import Category, Course, CourseRevision, CourseVisibility
    from lms.core.db import db, utcnow
    from lms.demo.seed import seed_demo

    rng = random.Random(20000)
    with app.app_context():
        seed_demo()
        db.session.commit()
        province = db.session.scalar(select(Organization).where(Organization.code == "SF"))
        author = db.session.scalar(select(User).where(User.login_name == "teacher01"))
        categories = list(db.session.scalars(select(Category.id)))
        now = utcnow()
        for start in range(0, count, 2000):
            n = min(2000, count - start)
            ids = db.session.scalars(
                insert(Course).returning(Course.id),
                [
                    {
                        "org_id": province.id,
                        "created_by_id": author.id,
                        "status": "published",
                        "published_at": now,
                        "version": 1,
                        "code": f"BENCH-{start + i:06d}",
                    }
                    for i in range(n)
                ],
            ).all()
            revisions = []
            for course_id in ids:
                theme, form = rng.choice(THEMES), rng.choice(FORMS)
                minutes = rng.choice([8, 12, 15, 30, 45, 60, 90])
                revisions.append(
                    {
                        "course_id": course_id,
                        "number": 1,
                        "status": "approved",
                        "title": f"{theme}{form}",
                        "summary_html": f"<p>围绕{theme}，结合{rng.choice(THEMES)}讲{form}。</p>",
                        "category_id": rng.choice(categories),
                        "tags": [theme, rng.choice(THEMES)],
                        "kind": "micro" if minutes <= 15 else "video",
                        "hours": 0.25 if minutes <= 15 else 1,
                        "visibility_paths": [province.path],
                        "teacher_ids": [author.id],
                        "lecturers": [rng.choice(["中央党校教授", "省委党校教授", "国家行政学院研究员"])],
                        "lessons": [
                            {
                                "key": secrets.token_hex(6),
                                "title": f"第一讲 {theme}",
                                "duration_s": minutes * 60,
                                "media_asset_id": None,
                            }
                        ],
                    }
                )
            revision_ids = db.session.scalars(
                insert(CourseRevision).returning(CourseRevision.id), revisions
            ).all()
            for course_id, revision_id in zip(ids, revision_ids, strict=True):
                db.session.execute(
                    Course.__table__.update()
                    .where(Course.id == course_id)
                    .values(published_revision_id=revision_id)
                )
            db.session.execute(
                insert(CourseVisibility), [{"course_id": i, "org_path": province.path} for i in ids]
            )
            db.session.commit()


def _token(port: int, login: str) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/token",
        method="POST",
        data=json.dumps({"username": login, "password": "demo2026"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read())["token"]


@dataclass
class Run:
    samples: list[float] = field(default_factory=list)
    errors: int = 0
    degraded: bool = False
    empty: int = 0


def _drive(port: int, tokens: list[str], path: str, texts: list[str], clients: int, seconds: float) -> Run:
    """``clients`` closed-loop clients, each on one keep-alive connection, for ``seconds``."""
    run = Run()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            query = urllib.parse.urlencode({"q": rng.choice(texts)})
            if path.endswith("courses"):
                query += f"&page={rng.choice([1, 1, 1, 2, 3])}"
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}"}
            start = time.perf_counter()
            try:
                connection.request("GET", f"{path}?{query}", headers=headers)
                response = connection.getresponse()
                body = json.loads(response.read())
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise OSError(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                with lock:
                    run.errors += 1
                continue
            with lock:
                run.samples.append(elapsed)
                run.degraded = run.degraded or bool(body.get("degraded"))
                run.empty += not (body.get("hits") or body.get("suggestions"))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run


def _report(name: str, run: Run, seconds: float, cached: str = "") -> None:
    if len(run.samples) < 2:
        print(f"{name}: {len(run.samples)} answers, {run.errors} errors")
        return
    q = statistics.quantiles(run.samples, n=100)
    empty = f"   empty {run.empty / len(run.samples):4.0%}"
    print(
        f"{name}: {len(run.samples) / seconds:6.1f} req/s   p50 {q[49] * 1000:6.1f} ms   "
        f"p95 {q[94] * 1000:6.1f} ms   p99 {q[98] * 1000:6.1f} ms   errors {run.errors}{empty}"
        f"{'   degraded' if run.degraded else ''}{cached}"
    )


def _cpu_seconds(markers: dict[str, str]) -> dict[str, float]:
    """CPU time used so far by the processes whose command line contains each marker (Linux /proc)."""
    used = dict.fromkeys(markers, 0.0)
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        for name, marker in markers.items():
            if marker in command:
                used[name] += (int(fields[11]) + int(fields[12])) / tick
    return used


def _request_cache(env: dict[str, str], prefix: str) -> tuple[int, int]:
    """(hits, misses) of the shard request cache of the courses index (Elasticsearch only)."""
    if env.get("LMS_SEARCH_BACKEND") != "elasticsearch":
        return 0, 0
    from elasticsearch import Elasticsearch

    with Elasticsearch(env["LMS_ELASTICSEARCH_URL"]) as client:
        stats = client.indices.stats(index=f"{prefix}courses", metric="request_cache")
    cache = stats["_all"]["total"]["request_cache"]
    return cache["hit_count"], cache["miss_count"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--courses", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--clients", default="1,4", help="client counts, e.g. 1,4")
    args = parser.parse_args()
    client_counts = [int(n) for n in args.clients.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    env = _env()
    url, drop = _database(env)
    prefix = f"bench_{secrets.token_hex(3)}_"
    env |= {
        "LMS_DATABASE_URL": url,
        "LMS_SEARCH_INDEX_PREFIX": prefix,
        "LMS_INSTANCE_DIR": str(OUT / "catalog-instance"),
        "LMS_CELERY_ALWAYS_EAGER": "1",
    }
    if env.get("LMS_SEARCH_BACKEND") != "elasticsearch":
        env["LMS_SEARCH_PATH"] = str(OUT / f"{prefix}search.sqlite")
    os.environ.update(env)
    from flask_migrate import upgrade

    from lms.app import create_app
    from lms.core.db import db
    from lms.discovery.engine import get_search_engine
    from lms.discovery.services import reindex_all

    app = create_app()
    try:
        with app.app_context():
            upgrade()
        started = time.perf_counter()
        _load(app, args.courses)
        print(
            f"backend: database {url.split(':')[0]}, search {env.get('LMS_SEARCH_BACKEND', 'embedded')}; "
            f"{args.courses} courses loaded in {time.perf_counter() - started:.1f} s"
        )
        with app.app_context():
            started = time.perf_counter()
            report = reindex_all(get_search_engine())
            get_search_engine().refresh()
            print(f"full reindex: {report.documents} courses in {time.perf_counter() - started:.1f} s")
            db.session.remove()
        closed = {"LMS_ELASTICSEARCH_URL": "http://127.0.0.1:9", "LMS_SEARCH_BACKEND": "elasticsearch"}
        workloads = [
            ("search ", "/api/v1/courses", _search_texts()),
            ("suggest", "/api/v1/courses/suggest", _typed_prefixes()),
        ]
        for name, server_env in (("engine  ", env), ("database", env | closed)):
            with gunicorn(
                server_env, workers=4, log_path=OUT / f"catalog-gunicorn-{name.strip()}.log"
            ) as port:
                tokens = [_token(port, login) for login in CADRES]
                for _, path, texts in workloads:  # warm up every worker (and Elasticsearch's JIT)
                    _drive(port, tokens, path, texts, max(client_counts), 3)
                markers = {
                    "app": f"127.0.0.1:{port}",  # gunicorn's --bind, in the master's and workers' command
                    "postgresql": f"postgres: {sa.engine.make_url(url).username} {url.rpartition('/')[2]}",
                    "elasticsearch": "org.elasticsearch.bootstrap.Elasticsearch",
                }
                for label, path, texts in workloads:
                    for clients in client_counts:
                        before = _request_cache(server_env, prefix) if name.strip() == "engine" else None
                        cpu_before, client_before = _cpu_seconds(markers), time.process_time()
                        run = _drive(port, tokens, path, texts, clients, args.seconds)
                        cpu = {k: v - cpu_before[k] for k, v in _cpu_seconds(markers).items()}
                        cpu["client"] = time.process_time() - client_before
                        cached = ""
                        if before is not None and before != (after := _request_cache(server_env, prefix)):
                            hits, misses = after[0] - before[0], after[1] - before[1]
                            cached = f"   request cache answered {hits / max(1, hits + misses):4.0%}"
                        _report(f"{label} via {name} ({clients} clients)", run, args.seconds, cached)
                        per_request = {k: v * 1000 / max(1, len(run.samples)) for k, v in cpu.items() if v}
                        print(
                            "    CPU per request: "
                            + ", ".join(f"{k} {ms:.1f} ms" for k, ms in per_request.items())
                            + f" (2 cores: {sum(per_request.values()):.1f} ms in all)"
                        )
    finally:
        with app.app_context():
            engine = get_search_engine() if env.get("LMS_SEARCH_BACKEND") == "elasticsearch" else None
            if engine is not None:
                engine.drop()
            db.engine.dispose()
        drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
