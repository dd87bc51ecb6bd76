"""我的课程建设 on a large catalog: how long the list of a teacher's courses (listed teachers are matched in
the JSON text of the revisions) and an admin's courses takes on PostgreSQL.

    eval "$(scripts/services.sh env)"
    /tmp/quiet/bench .venv/bin/python benchmarks/authoring_list.py [--courses 20000]

Builds a throwaway database (dropped afterwards) with the courses spread over 8 counties, half of them
published with a draft revision on every tenth; the measured teacher is listed on 1 course in 400.
Prints the median and p95 of each list's first page (20 rows, with its count)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--courses", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base = os.environ.get("LMS_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        sys.exit('needs PostgreSQL: eval "$(scripts/services.sh env)" first')
    url, drop = scratch_database(base, f"bench_authoring_{uuid.uuid4().hex[:8]}")
    try:
        run(url, args.courses, args.runs)
    finally:
        drop()


def run(url: str, courses: int, runs: int) -> None:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from lms.accounts.permissions import admin_scope
    from lms.app import create_app
    from lms.catalog.authoring import list_my_courses
    from lms.catalog.models import Course, CourseRevision
    from lms.core.db import db, utcnow
    from lms.settings import Settings
    from tests.factories import make_admin, make_teacher, province_tree

    instance = Path(__file__).resolve().parent / "out" / "authoring-instance"
    settings = Settings.from_env(
        {
            "LMS_ENV": "test",
            "LMS_DATABASE_URL": url,
            "LMS_INSTANCE_DIR": str(instance),
            "LMS_CELERY_BROKER_URL": "memory://",
            "LMS_CELERY_ALWAYS_EAGER": "1",
        }
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
        orgs = province_tree()
        counties = [orgs[k] for k in ("unit11", "unit12", "unit21", "unit22")]
        teacher = make_teacher(org=orgs["unit11"])
        others = [make_teacher(org=o) for o in counties]
        county_admin = make_admin(of=orgs["county11"])
        province_admin = make_admin(of=orgs["province"])
        db.session.commit()
        started = time.perf_counter()
        now = utcnow()
        for chunk in range(0, courses, 2000):
            rows = []
            for n in range(chunk, min(courses, chunk + 2000)):
                org = counties[n % len(counties)]
                author = others[n % len(others)]
                status = "published" if n % 2 else "draft"
                rows.append({"org_id": org.id, "created_by_id": author.id, "status": status})
            ids = db.session.scalars(
                sa.insert(Course).returning(Course.id, sort_by_parameter_order=True),
                [r | {"version": 1, "rating_avg": 0, "rating_count": 0, "learner_count": 0} for r in rows],
            ).all()
            revisions = []
            for n, course_id in zip(range(chunk, chunk + len(ids)), ids, strict=True):
                listed = [others[n % len(others)].id] + ([teacher.id] if n % 400 == 7 else [])
                revisions.append(
                    {
                        "course_id": course_id,
                        "number": 1,
                        "status": "approved" if n % 2 else "draft",
                        "title": f"课程{n}",
                        "summary_html": "",
                        "tags": [],
                        "kind": "video",
                        "hours": 1,
                        "credit_rule": "fixed",
                        "minutes_per_hour": 45,
                        "use": "elective",
                        "no_seek_ahead": False,
                        "visibility_paths": [],
                        "teacher_ids": listed,
                        "lecturers": [],
                        "lessons": [],
                        "created_at": now,
                        "review_comment": "",
                    }
                )
            insert = sa.insert(CourseRevision).returning(CourseRevision.id, sort_by_parameter_order=True)
            rev_ids = db.session.scalars(insert, revisions).all()
            for n, course_id, rev_id in zip(range(chunk, chunk + len(ids)), ids, rev_ids, strict=True):
                column = "published_revision_id" if n % 2 else "working_revision_id"
                db.session.execute(sa.update(Course).where(Course.id == course_id).values({column: rev_id}))
            db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        print(f"built {courses} courses in {time.perf_counter() - started:.1f} s")
        for label, actor in (
            ("teacher (listed on 1 in 400)", teacher),
            ("county admin (1/4 of the courses)", county_admin),
            ("province admin (all)", province_admin),
        ):
            scope = admin_scope(actor)
            times = []
            for _ in range(runs):
                db.session.expire_all()
                t0 = time.perf_counter()
                page = list_my_courses(actor, scope, page=1, per_page=20)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
            print(
                json.dumps(
                    {
                        "list": label,
                        "total": page.total,
                        "median_ms": round(statistics.median(times), 1),
                        "p95_ms": round(p95, 1),
                    },
                    ensure_ascii=False,
                )
            )
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main()
