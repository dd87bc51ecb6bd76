"""Benchmark: catalog search through the API with 20,000 published courses.

    eval "$(scripts/services.sh env)"       # PostgreSQL + Elasticsearch (else SQLite + embedded engine)
    .venv/bin/python benchmarks/catalog_search.py [--courses 20000] [--seconds 15] [--users 20]

Builds a throwaway database (PostgreSQL: a new database dropped at the end), bulk-loads the courses,
times a full reindex into a fresh index, then drives GET /api/v1/courses?q=… from concurrent clients
against gunicorn twice: with the search engine, and with the engine unreachable so the database
fallback answers. Prints throughput and p50/p95/p99 for each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

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
QUERIES = [
    "党性教育",
    "乡村振兴",
    "dxjy",
    "数字政府案例",
    "依法行政",
    "应急",
    "党章",
    "营商环境 政策解读",
    "基层治理",
    "安全生产实务",
]


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


def _drive(port: int, token: str, users: int, seconds: float) -> tuple[list[float], int, bool]:
    samples: list[float] = []
    errors = 0
    degraded = False
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(seed: int) -> None:
        nonlocal errors, degraded
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            query = urllib.parse.quote(rng.choice(QUERIES))
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/courses?q={query}",
                headers={"Authorization": f"Bearer {token}"},
            )
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                    body = json.loads(response.read())
                with lock:
                    samples.append(time.perf_counter() - start)
                    degraded = degraded or body["degraded"]
            except OSError:
                with lock:
                    errors += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, errors, degraded


def _report(name: str, samples: list[float], errors: int, seconds: float, degraded: bool) -> None:
    q = statistics.quantiles(samples, n=100)
    print(
        f"{name}: {len(samples) / seconds:7.1f} req/s   p50 {q[49] * 1000:6.1f} ms   "
        f"p95 {q[94] * 1000:6.1f} ms   "
        f"p99 {q[98] * 1000:6.1f} ms   errors {errors}   degraded={degraded}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--courses", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
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
        for name, server_env in (("engine  ", env), ("database", env | closed)):
            with gunicorn(
                server_env, workers=4, log_path=OUT / f"catalog-gunicorn-{name.strip()}.log"
            ) as port:
                token = _token(port, "gb0001")
                samples, errors, degraded = _drive(port, token, args.users, args.seconds)
                _report(f"search via {name} ({args.users} clients)", samples, errors, args.seconds, degraded)
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
