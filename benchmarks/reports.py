"""Benchmark: unit reports and a 100,000-row .xlsx export on PostgreSQL.

    eval "$(scripts/services.sh env)"       # PostgreSQL
    .venv/bin/python benchmarks/reports.py [--cadres 100000] [--rows 2000000] [--runs 20]

In a throwaway PostgreSQL database (migrated, dropped at the end): 1 province, 10 cities, 100 counties
(10 per city) and ~2,000 units (20 per county), ``--cadres`` cadres spread over the units with ranks and
categories drawn at random, and ``--rows`` ledger rows (COPY) spread over the cadres and this year's
months: credits of every source kind, category and use, plus 2 % corrections and 1 % revocations. The
COPY runs with the summaries' row trigger off and the summaries are rebuilt after it (the code of
``flask reports rebuild-summary``; its time is printed). Then VACUUM ANALYZE (as autovacuum would in a
live database; otherwise autovacuum works through the 2M new rows during the measurements), and:

(1) ``GET /api/v1/reports/units?org_id=<province>`` (every unit rolled up) and
(2) ``GET /api/v1/reports/units?org_id=<a county>``, each ``--runs`` times after one warm-up, through the
    whole Flask stack **in-process** (Flask's test client with a bearer token: no gunicorn, no network);
    p50/p95/max in ms; then both for 15 January to today (edge days read from the raw ledger), 5 runs;
(3) the ``cadres`` export of the province (every cadre, one row each) as the Celery task runs it, in a
    child process of its own: wall time and that process's peak RSS (``ru_maxrss``), to the local object
    store under benchmarks/out.

Targets (issue 7): province <= 2 s, county <= 200 ms p95; export peak memory <= 300 MB. Prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scratch import bench_env, scratch_database  # noqa: E402

OUT = ROOT / "benchmarks/out"
RANKS = ["bureau", "division", "section", "section", "below_section", "below_section", "general", "general"]
CATEGORIES = [
    "leadership",
    "civil_servant",
    "civil_servant",
    "civil_servant",
    "professional",
    "young",
    "grassroots",
]
SOURCES = ["online_course"] * 6 + ["test", "class", "offline_claim", "offline_claim"]


def _env(tag: str, url: str) -> dict[str, str]:
    return bench_env(
        "reports",
        tag,
        LMS_DATABASE_URL=url,
        LMS_STORAGE_BACKEND="local",
        LMS_STORAGE_DIR=str(OUT / f"reports-{tag}-store"),
    )


def generate(cadres: int, rows: int, year: int) -> dict[str, Any]:
    """The tree, the cadres and the ledger, by COPY (the summaries rebuilt after). Returns ids to report
    on and the rebuild's time and row counts."""
    from sqlalchemy import text

    from lms.core.db import db
    from lms.reports.summary import rebuild_summary

    rng = random.Random(7)
    now = datetime.now(UTC)
    orgs: list[tuple[int, str, str, int | None, str, int]] = [(1, "基准省", "province", None, "/1/", 0)]
    next_id = 2
    units: list[int] = []
    counties: list[int] = []
    for c in range(10):
        city = next_id
        next_id += 1
        orgs.append((city, f"基准{c + 1}市", "city", 1, f"/1/{city}/", 1))
        for k in range(10):
            county = next_id
            next_id += 1
            counties.append(county)
            orgs.append((county, f"基准{c + 1}市{k + 1}县", "county", city, f"/1/{city}/{county}/", 2))
            for u in range(20):
                unit = next_id
                next_id += 1
                units.append(unit)
                orgs.append(
                    (unit, f"{c + 1}-{k + 1}单位{u + 1}", "unit", county, f"/1/{city}/{county}/{unit}/", 3)
                )
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(
            "COPY organizations (id, name, kind, parent_id, path, depth, is_active, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for oid, name, kind, parent, path, depth in orgs:
                copy.write_row((oid, name, kind, parent, path, depth, True, now, now))
        cur.execute("SELECT setval('organizations_id_seq', %s)", (next_id,))
        user_org: list[int] = []
        with cur.copy(
            "COPY users (id, login_name, display_name, org_id, rank, cadre_category, is_active, is_learner,"
            " password_hash, must_change_password, session_version, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, cadres + 1):
                org = units[rng.randrange(len(units))] if i % 20 else counties[rng.randrange(len(counties))]
                user_org.append(org)
                copy.write_row(
                    (i, f"cadre{i}", f"干部{i}", org, rng.choice(RANKS), rng.choice(CATEGORIES), i % 50 != 0,
                     True, "x", False, 1, now, now)
                )  # fmt: skip
        cur.execute("SELECT setval('users_id_seq', %s)", (cadres + 1,))
        start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=8)
        span = (min(now, datetime(year + 1, 1, 1, tzinfo=UTC)) - start).total_seconds()
        # The summaries' row trigger would upsert twice per COPYed row: load without it, rebuild after.
        cur.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_totals_sync")
        with cur.copy(
            "COPY ledger_entries (user_id, org_id, year, hours, kind, source_kind, category_id, use, title,"
            " reference, reason, created_at) FROM STDIN"
        ) as copy:
            for n in range(rows):
                uid = rng.randrange(1, cadres + 1)
                r = rng.random()
                kind, hours = (
                    ("revocation", -2) if r < 0.01 else ("correction", -0.5) if r < 0.03 else ("credit", None)
                )
                amount = hours if hours is not None else rng.choice((0.5, 1, 1.5, 2, 3))
                use = "required" if rng.random() < 0.4 else "elective"
                when = start + timedelta(seconds=rng.random() * span)
                copy.write_row(
                    (uid, user_org[uid - 1], year, amount, kind, rng.choice(SOURCES), rng.randrange(1, 5),
                     use, "课程", f"b:{n}", "", when)
                )  # fmt: skip
        cur.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_totals_sync")
    began = time.perf_counter()
    summary_rows = rebuild_summary()
    rebuilt_s = time.perf_counter() - began
    db.session.execute(
        text(
            "INSERT INTO target_rules (org_id, rank, cadre_category, hours_per_year, window_years,"
            " required_hours, label, updated_at) VALUES (:org, 'section', NULL, 60, 1, 20, '县乡科级', now())"
        ),
        {"org": counties[0]},
    )
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {
        "province": 1,
        "county": counties[len(counties) // 2],
        "rebuilt_s": rebuilt_s,
        "month_rows": summary_rows["ledger_month_totals"],
        "year_rows": summary_rows["ledger_year_totals"],
    }


def timed(client, path: str, headers: dict[str, str], runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    assert client.get(path, headers=headers).status_code == 200
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return times


def export_phase(user_id: int, org_id: int) -> None:
    """Child process: the export as the task runs it; prints JSON with time and memory."""
    from lms.app import create_app
    from lms.media.storage import get_storage
    from lms.reports import tasks

    app = create_app()
    with app.app_context():
        store = get_storage()
        token = secrets.token_hex(12)
        year = datetime.now(UTC).year
        tasks._save(
            store,
            user_id,
            {"id": token, "report": "cadres", "org_id": org_id, "org_name": "", "from": f"{year}-01-01",
             "to": f"{year}-12-31", "status": "queued", "progress": 0, "rows": 0, "created_at": ""},
        )  # fmt: skip
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began = time.perf_counter()
        state = tasks.run_export(store, user_id, token)
        seconds = time.perf_counter() - began
        size = store.stat(tasks.file_key(user_id, token)).size
    print(
        json.dumps(
            {
                "status": state["status"],
                "rows": state["rows"],
                "seconds": seconds,
                "rss_before_mb": rss_before,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "bytes": size,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cadres", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-phase", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_phase:
        export_phase(*args.export_phase)
        return 0
    base = os.environ.get("LMS_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        print('needs PostgreSQL: eval "$(scripts/services.sh env)"', file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    url, drop = scratch_database(base, f"lms_bench_reports_{tag}")
    env = _env(tag, url)
    os.environ.update(env)
    import logging

    from flask_migrate import upgrade

    from lms.app import create_app
    from lms.core.db import db
    from tests.factories import bearer, make_admin

    app = create_app()
    try:
        with app.app_context():
            logging.disable(logging.INFO)
            upgrade()
            logging.disable(logging.NOTSET)
            began = time.perf_counter()
            ids = generate(args.cadres, args.rows, datetime.now(UTC).year)
            from lms.accounts.models import Organization

            admin = make_admin(of=db.session.get(Organization, ids["province"]))
            admin.is_learner = False
            headers = bearer(admin)
            admin_id = admin.id
            db.session.commit()
            setup_s = time.perf_counter() - began
            db.session.remove()
        print(f"database: {url.rsplit('/', 1)[-1]} (PostgreSQL, dropped afterwards)")
        print(
            f"data: 1 province, 10 cities, 100 counties, 2000 units; {args.cadres} cadres, "
            f"{args.rows} ledger rows (COPY + VACUUM ANALYZE) in {setup_s:.1f} s; "
            f"cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.2f}"
        )
        print(
            f"summaries rebuilt after the COPY (trigger off during it; flask reports rebuild-summary's code):"
            f" {ids['month_rows']} cadre-months, {ids['year_rows']} cadre-years in {ids['rebuilt_s']:.1f} s"
        )
        client = app.test_client()
        for name, org_id in (("province", ids["province"]), ("county", ids["county"])):
            times = timed(client, f"/api/v1/reports/units?org_id={org_id}", headers, args.runs)
            q = statistics.quantiles(times, n=20)
            print(
                f"{name} report (in-process, {args.runs} runs): p50 {statistics.median(times):.0f} ms, "
                f"p95 {q[18]:.0f} ms, max {max(times):.0f} ms"
            )
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        edges = f"from={today.year}-01-15&to={today.isoformat()}"
        for name, org_id in (("province", ids["province"]), ("county", ids["county"])):
            times = timed(client, f"/api/v1/reports/units?org_id={org_id}&{edges}", headers, 5)
            print(
                f"{name} report, {edges.replace('&', ' ')} (edge days from the raw ledger, 5 runs):"
                f" p50 {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
            )
        cadres_page = timed(client, f"/api/v1/reports/units/{ids['county']}/cadres?behind=1", headers, 5)
        print(f"county behind-target list, page 1 (5 runs): p50 {statistics.median(cadres_page):.0f} ms")
        child = subprocess.run(
            [sys.executable, __file__, "--export-phase", str(admin_id), str(ids["province"])],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"export of the province's cadres ({result['rows']} rows, "
            f"{result['bytes'] / 2**20:.1f} MB .xlsx, "
            f"{result['status']}): {result['seconds']:.1f} s; peak RSS {result['peak_rss_mb']:.0f} MB "
            f"(after start-up {result['rss_before_mb']:.0f} MB)"
        )
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        for attempt in range(6):  # an autovacuum worker (not ours to end) may still hold the database
            try:
                drop()
                break
            except Exception as error:
                print(f"dropping the database failed ({type(error).__name__}); retrying", file=sys.stderr)
                time.sleep(10 * (attempt + 1))
        else:
            print(f"left behind: database {url.rsplit('/', 1)[-1]}; drop it by hand", file=sys.stderr)
        import shutil

        shutil.rmtree(OUT / f"reports-{tag}-store", ignore_errors=True)
        Path(OUT / f"reports-{tag}-search.sqlite").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
