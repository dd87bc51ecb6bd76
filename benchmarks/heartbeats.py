"""Benchmark: learning-time heartbeats under many concurrent viewers, on gunicorn + PostgreSQL.

    eval "$(scripts/services.sh env)"       # PostgreSQL
    .venv/bin/python benchmarks/heartbeats.py [--seconds 10] [--viewers 1000] [--interval 1]
                                              [--connections 50] [--workers 5]

In a throwaway PostgreSQL database (migrated, dropped at the end): an org, a teacher, a READY 3600 s
video asset (a row only, no media), a published course with one lesson, and ``--viewers`` +
``--connections`` cadres of that org with bearer tokens. Over HTTP/1.1 keep-alive against gunicorn
(the gunicorn.conf.py settings: gthread, ``--workers`` x GUNICORN_THREADS threads):

(1) ceiling: ``GET /healthz`` (returns a constant; touches no database or service) in a closed loop
    on ``--connections`` connections;
(2) heartbeats as fast as possible: ``--connections`` viewers, one connection each, start a playback
    and send heartbeats back to back (closed loop), each claiming exactly the real time elapsed since
    its previous one;
(3) paced viewers: ``--viewers`` viewers, one connection each, start a playback, then send one
    heartbeat every ``--interval`` s (start times spread over one interval) whose range covers exactly
    the real time elapsed since the previous one: an honest viewer at 1x, ~viewers/interval offered/s.

At the deadline no new request is sent and those in flight are awaited, so every response is counted.
Then, from the database: every 200/409 heartbeat response has its ``playback_heartbeats`` row, the
heartbeats' credited seconds per viewer sum to its ``lesson_progress.covered_s`` (nothing credited
twice) and per session to the session's ``credited_s``, and no session is credited more than its real
elapsed time (first start to last heartbeat, server clock) x 1.0 + 2 s.

The load generator is one asyncio process with raw HTTP/1.1 sockets (its CPU share is printed) on the
same 2-core machine as gunicorn and PostgreSQL, so the figures are a floor. Prints figures only;
checks print OK or WRONG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from gunicorn_server import gunicorn
from scratch import bench_env, scratch_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks/out"
DURATION_S = 3600.0


# Setup ---------------------------------------------------------------------------------------------


def _env(tag: str) -> dict[str, str]:
    return bench_env("heartbeats", tag)


def setup(viewers: int) -> tuple[int, list[tuple[int, str]]]:
    """The course and ``viewers`` cadres; returns the lesson id and (user id, bearer token) pairs."""
    from lms.accounts.services import issue_token
    from lms.catalog import services as catalog
    from lms.catalog.queries import active_lessons
    from lms.catalog.validation import clean_course_data
    from lms.core.db import db, utcnow
    from lms.media.models import AssetKind, AssetStatus, MediaAsset
    from tests.factories import make_admin, make_org, make_teacher, make_user

    org = make_org(name="基准测试党校")
    teacher = make_teacher(org=org, name="讲课教师")
    asset = MediaAsset(
        owner_id=teacher.id,
        org_id=org.id,
        kind=AssetKind.VIDEO,
        title="一小时专题讲座",
        status=AssetStatus.READY,
        progress=100,
        source_key=f"uploads/bench/{secrets.token_hex(8)}/lecture.mp4",
        source_size=0,
        duration_s=DURATION_S,
        playlist_key="media/bench/t/master.m3u8",
        output_prefix="media/bench/t/",
        ready_at=utcnow(),
    )
    db.session.add(asset)
    db.session.flush()
    data = clean_course_data(
        {
            "title": "一小时专题讲座",
            "hours": "1",
            "lessons": [{"title": "第一讲", "media_asset_id": asset.id}],
        }
    )
    course = catalog.create_course(actor=teacher, org=org, data=data)
    catalog.submit_for_review(actor=teacher, course=course)
    catalog.approve(actor=make_admin(of=org), course=course)
    db.session.commit()
    (lesson,) = active_lessons(course.id)
    users = []
    for _ in range(viewers):
        user = make_user(org=org)
        token, _ = issue_token(user=user, ttl=timedelta(hours=6))
        users.append((user.id, token))
    db.session.commit()
    return lesson.id, users


def sql_per_request(app, lesson_id: int, token: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """SQL statements one request runs, in this process through Flask's test client: counted at the
    driver (psycopg cursors, whether SQLAlchemy or the heartbeat route runs them; transaction
    commands such as BEGIN/COMMIT are not statements here)."""
    import psycopg

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    started = client.post(f"/api/v1/lessons/{lesson_id}/playback", json={}, headers=headers).get_json()
    hb_path = f"/api/v1/playback/{started['session_id']}/heartbeat"
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def count(cursor, query, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        statements.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    out = {}
    for label, call in (
        ("GET /healthz", lambda: client.get("/healthz")),
        (
            "POST heartbeat",
            lambda: client.post(
                hb_path, json={"seq": 1, "position_s": 0.5, "ranges": [[0, 0.5]]}, headers=headers
            ),
        ),
    ):
        psycopg.Cursor.execute = count  # type: ignore[method-assign]
        try:
            response = call()
        finally:
            psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        assert response.status_code == 200, response.get_data(as_text=True)
        out[label] = len(statements)
        statements.clear()
    return out


# Load generator: asyncio, raw HTTP/1.1 keep-alive --------------------------------------------------


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _post(path: str, token: str, payload: object) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # of 2xx responses
    sent: list[float] = field(default_factory=list)  # when each of those was sent (perf_counter)
    started: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # connection failures / timeouts
    elapsed: float = 0.0
    cpu: float = 0.0

    async def timed(self, conn: Conn, raw: bytes) -> tuple[int, bytes] | None:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(30):  # (unlike wait_for, no task per request: less client CPU)
                status, body = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            self.errors += 1
            return None
        self.statuses[status] += 1
        if 200 <= status < 300:
            self.latencies.append(time.perf_counter() - start)
            self.sent.append(start)
        return status, body

    def window(self, begin: float, end: float) -> Stats:
        """The 2xx responses to requests sent ``begin``..``end`` s into the phase."""
        picked = [
            (s, lat)
            for s, lat in zip(self.sent, self.latencies, strict=True)
            if begin <= s - self.started < end
        ]
        return Stats(latencies=[lat for _, lat in picked], sent=[s for s, _ in picked], elapsed=end - begin)


async def _bare(port: int, connections: int, seconds: float) -> Stats:
    stats = Stats()
    raw = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def loop(deadline: float) -> None:
        conn = Conn(port)
        while time.perf_counter() < deadline:
            await stats.timed(conn, raw)
        conn.close()

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop(start + seconds) for _ in range(connections)))
    stats.elapsed, stats.cpu = time.perf_counter() - start, time.process_time() - cpu
    return stats


async def _start_all(
    port: int, lesson_id: int, tokens: list[str], parallel: int = 20
) -> list[tuple[str, float]]:
    """Start a playback per token: (session id, client time the session began)."""
    gate = asyncio.Semaphore(parallel)

    async def start(token: str) -> tuple[str, float]:
        async with gate:
            conn = Conn(port)
            status, body = await conn.request(_post(f"/api/v1/lessons/{lesson_id}/playback", token, {}))
            began = time.perf_counter()
            conn.close()
            if status != 201:
                raise RuntimeError(f"start playback: HTTP {status} {body[:200]!r}")
            return json.loads(body)["session_id"], began

    return list(await asyncio.gather(*(start(t) for t in tokens)))


class SharedConnections:
    """Keep-alive connections shared by all viewers, as a reverse proxy's upstream pool (nginx
    ``keepalive`` and ``keepalive_timeout``): a request takes the most recently idle connection, or
    opens one when none is idle; afterwards at most ``idle`` connections are kept, each for at most
    ``timeout`` s (below gunicorn's ``keepalive``, after which gunicorn closes it: a request sent on a
    connection gunicorn is closing fails). A request thus goes to a worker that has just answered, not
    to the worker one phone happened to connect to."""

    def __init__(self, port: int, idle: int, timeout: float) -> None:
        self.port, self.idle, self.timeout = port, idle, timeout
        self.free = list[tuple[Conn, float]]()
        self.opened = 0

    def take(self) -> Conn:
        now = time.monotonic()
        while self.free:
            conn, since = self.free.pop()
            if now - since < self.timeout:
                return conn
            conn.close()
        self.opened += 1
        return Conn(self.port)

    def give(self, conn: Conn) -> None:
        if conn.writer is not None and len(self.free) < self.idle:
            self.free.append((conn, time.monotonic()))
        else:
            conn.close()


async def _viewers(
    port: int,
    viewers: list[tuple[str, str, float]],
    seconds: float,
    interval: float | None,
    shared: SharedConnections | None = None,
) -> Stats:
    """Each viewer (token, session id, began) on its own connection (or, with ``shared``, through the
    shared pool): heartbeats claiming exactly the real time since its previous one, every ``interval``
    s (None: back to back) until the deadline."""
    stats = Stats()

    async def viewer(token: str, session_id: str, began: float, deadline: float) -> None:
        conn = Conn(port)
        path = f"/api/v1/playback/{session_id}/heartbeat"
        position, last, seq = 0.0, began, 0
        if interval is not None:
            await asyncio.sleep(random.uniform(0, interval))
        due = time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            end = min(DURATION_S, round(position + (now - last), 3))
            seq += 1
            payload = {
                "seq": seq,
                "position_s": end,
                "ranges": [[position, end]],
                "rate": 1.0,
                "visible": True,
            }
            if shared is None:
                await stats.timed(conn, _post(path, token, payload))
            else:
                pooled = shared.take()
                await stats.timed(pooled, _post(path, token, payload))
                shared.give(pooled)
            position, last = end, now
            if interval is not None:
                due += interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn.close()

    cpu, start = time.process_time(), time.perf_counter()
    stats.started = start
    await asyncio.gather(*(viewer(t, s, b, start + seconds) for t, s, b in viewers))
    stats.elapsed, stats.cpu = time.perf_counter() - start, time.process_time() - cpu
    return stats


# Checks from the database --------------------------------------------------------------------------


def verify(label: str, user_ids: list[int], stats: Stats) -> bool:
    import sqlalchemy as sa

    from lms.core.db import db

    ids = {"ids": user_ids}
    rows = db.session.execute(
        sa.text("SELECT count(*) FROM playback_heartbeats WHERE user_id = ANY(:ids)"), ids
    ).scalar_one()
    answered = stats.statuses[200] + stats.statuses[409]  # 409: an ended session, still recorded
    ok_rows = rows == answered
    reasons = db.session.execute(
        sa.text(
            "SELECT accepted, coalesce(reason, ''), count(*) FROM playback_heartbeats "
            "WHERE user_id = ANY(:ids) GROUP BY 1, 2 ORDER BY 3 DESC"
        ),
        ids,
    ).all()
    per_user = db.session.execute(
        sa.text(
            "SELECT p.user_id, p.covered_s, coalesce(sum(h.credited_s), 0), count(h.id) "
            "FROM lesson_progress p "
            "LEFT JOIN playback_heartbeats h ON h.user_id = p.user_id AND h.lesson_id = p.lesson_id "
            "WHERE p.user_id = ANY(:ids) GROUP BY p.user_id, p.covered_s"
        ),
        ids,
    ).all()
    double = [r for r in per_user if abs(r[1] - r[2]) > 0.001]
    per_session = db.session.execute(
        sa.text(
            "SELECT s.id, s.credited_s, coalesce(sum(h.credited_s), 0), "
            "extract(epoch FROM coalesce(max(h.received_at), s.started_at) - s.started_at) "
            "FROM playback_sessions s LEFT JOIN playback_heartbeats h ON h.session_id = s.id "
            "WHERE s.user_id = ANY(:ids) GROUP BY s.id, s.credited_s, s.started_at"
        ),
        ids,
    ).all()
    mismatch = [r for r in per_session if abs(r[1] - r[2]) > 0.001]
    over = [r for r in per_session if r[2] > float(r[3]) * 1.0 + 2.0 + 1e-6]
    credited = sum(r[2] for r in per_session)
    elapsed = sum(float(r[3]) for r in per_session)
    print(f"  {label}:")
    print(
        f"    rows in playback_heartbeats {rows} vs 200+409 responses {answered} "
        f"-> {'OK' if ok_rows else 'WRONG'}"
    )
    print(
        "    verdicts: "
        + ", ".join(f"{'accepted' if a else 'rejected'}{'/' + r if r else ''} {n}" for a, r, n in reasons)
    )
    print(
        f"    {len(per_user)} viewers: sum of credited_s == lesson_progress.covered_s for "
        f"{len(per_user) - len(double)} -> {'OK' if not double else f'WRONG ({len(double)} differ)'}"
    )
    print(
        f"    {len(per_session)} sessions: sessions.credited_s == sum of heartbeats' for "
        f"{len(per_session) - len(mismatch)} -> {'OK' if not mismatch else 'WRONG'}; "
        f"credited > elapsed + 2 s: "
        f"{len(over)} -> {'OK' if not over else 'WRONG'}"
    )
    print(
        f"    credited {credited:.1f} s of {elapsed:.1f} s real session time "
        f"({100 * credited / elapsed if elapsed else 0:.1f} %)"
    )
    return ok_rows and not double and not mismatch and not over


# Main ----------------------------------------------------------------------------------------------


def _row(label: str, load: str, stats: Stats, *, cpu: bool = True) -> str:
    values = sorted(stats.latencies)
    q = statistics.quantiles(values, n=100) if len(values) > 1 else (values or [0.0]) * 99
    non2xx = sum(n for s, n in stats.statuses.items() if not 200 <= s < 300)
    return (
        f"  {label:<22} {load:<30} {len(values) / stats.elapsed:9.1f} {q[49] * 1000:8.1f} "
        f"{q[94] * 1000:8.1f} "
        f"{q[98] * 1000:8.1f} {non2xx:>7} {stats.errors:>6} "
        + (f"{100 * stats.cpu / stats.elapsed:9.0f}%" if cpu else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--viewers", type=int, default=1000, help="paced viewers (phase 3)")
    parser.add_argument("--interval", type=float, default=1.0, help="paced viewers' heartbeat interval, s")
    parser.add_argument("--connections", type=int, default=50, help="closed-loop connections (phases 1, 2)")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", (os.cpu_count() or 1) * 2 + 1))
    )
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", "4")))
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="gunicorn formats an access line per request (to /dev/null), as gunicorn.conf.py's default",
    )
    parser.add_argument(
        "--paced-via",
        choices=("proxy", "own"),
        default="proxy",
        help="phase 3: through a reverse proxy's shared keep-alive pool (as behind nginx), or each viewer "
        "holding its own keep-alive connection to gunicorn",
    )
    parser.add_argument(
        "--proxy-keepalive", type=int, default=512, help="idle upstream connections kept (nginx keepalive)"
    )
    parser.add_argument(
        "--proxy-keepalive-timeout",
        type=float,
        default=4.0,
        help="s an idle upstream connection is kept (below gunicorn.conf.py's keepalive, 5 s)",
    )
    args = parser.parse_args()
    command = (
        ".venv/bin/python benchmarks/heartbeats.py "
        f"--seconds {args.seconds:g} --viewers {args.viewers} --interval {args.interval:g} "
        f"--connections {args.connections} --workers {args.workers} --threads {args.threads}"
        + (" --access-log" if args.access_log else "")
        + f" --paced-via {args.paced_via}"
        + (
            f" --proxy-keepalive {args.proxy_keepalive}"
            f" --proxy-keepalive-timeout {args.proxy_keepalive_timeout:g}"
            if args.paced_via == "proxy"
            else ""
        )
    )
    base = os.environ.get("LMS_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        print('needs PostgreSQL: eval "$(scripts/services.sh env)"', file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    env = _env(tag)
    url, drop = scratch_database(base, f"lms_bench_heartbeats_{tag}")
    env["LMS_DATABASE_URL"] = url
    os.environ.update(env)
    from flask_migrate import upgrade

    from lms.app import create_app
    from lms.core.db import db

    app = create_app()
    ok = True
    try:
        with app.app_context():
            logging.disable(logging.INFO)  # alembic's progress lines
            upgrade()
            logging.disable(logging.NOTSET)
            started = time.perf_counter()
            lesson_id, users = setup(args.viewers + args.connections + 1)
            db.session.remove()
        setup_s = time.perf_counter() - started
        sql = sql_per_request(app, lesson_id, users[-1][1])
        fast_users, paced_users = users[: args.connections], users[args.connections : -1]
        print(f"command: {command}")
        print(
            f"database: {url.rsplit('/', 1)[-1]} (PostgreSQL, dropped afterwards); "
            f"{len(users)} cadres with tokens + a 3600 s lesson in {setup_s:.1f} s"
        )
        print("SQL statements per request: " + ", ".join(f"{k} {v}" for k, v in sql.items()))
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads (gthread, gunicorn.conf.py), "
            f"access log {'formatted (to /dev/null)' if args.access_log else 'off (nginx logs requests)'}; "
            f"cpu count {os.cpu_count()}; load average before {os.getloadavg()[0]:.2f}"
        )
        log = OUT / f"heartbeats-gunicorn-{tag}.log"
        with gunicorn(
            env, workers=args.workers, threads=args.threads, log_path=log, access_log=args.access_log
        ) as port:
            asyncio.run(_bare(port, args.connections, 1.0))  # every worker warm
            bare = asyncio.run(_bare(port, args.connections, args.seconds))

            async def run_viewers(
                group: list[tuple[int, str]], interval: float | None, shared: SharedConnections | None = None
            ) -> Stats:
                began = await _start_all(port, lesson_id, [t for _, t in group])
                items = [(t, s, b) for (_, t), (s, b) in zip(group, began, strict=True)]
                return await _viewers(port, items, args.seconds, interval, shared)

            fast = asyncio.run(run_viewers(fast_users, None))
            load_mid = os.getloadavg()[0]
            shared = (
                SharedConnections(port, args.proxy_keepalive, args.proxy_keepalive_timeout)
                if args.paced_via == "proxy"
                else None
            )
            paced = asyncio.run(run_viewers(paced_users, args.interval, shared))
            load_after = os.getloadavg()[0]

        print(
            f"\n{args.seconds:g} s per phase; load average after the fast phase {load_mid:.2f}, "
            f"at the end {load_after:.2f}"
        )
        print(
            "  {:<22} {:<30} {:>9} {:>8} {:>8} {:>8} {:>7} {:>6} {:>10}".format(
                "phase", "load", "2xx/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx", "conn", "client cpu"
            )
        )
        print(_row("(1) GET /healthz", f"{args.connections} conns", bare))
        print(_row("(2) heartbeats, max", f"{args.connections} conns", fast))
        via = "via proxy pool" if args.paced_via == "proxy" else "own conns"
        print(_row("(3) heartbeats, paced", f"{args.viewers} x 1/{args.interval:g}s {via}", paced))
        # Steady state: every viewer has sent its first heartbeat (they start spread over one interval)
        steady = paced.window(args.interval, args.seconds)
        print(_row("    paced, steady", f"after {args.interval:g} s", steady, cpu=False))
        bare_rps = len(bare.latencies) / bare.elapsed
        fast_rps = len(fast.latencies) / fast.elapsed
        steady_rps = len(steady.latencies) / steady.elapsed
        q = statistics.quantiles(sorted(steady.latencies), n=100) if len(steady.latencies) > 1 else [0.0] * 99
        answered = sum(paced.statuses.values()) == len(paced.latencies) and not paced.errors
        offered = args.viewers / args.interval
        print(
            f"  ratio heartbeats max / bare ceiling: {fast_rps / bare_rps:.3f} "
            f"({fast_rps:.0f} / {bare_rps:.0f} per s)"
        )
        met = offered >= 1000 and answered and q[98] <= 0.1
        print(
            f"  paced: offered {offered:.0f}/s, served {steady_rps:.0f}/s in steady state, every heartbeat "
            f"answered 2xx: {'yes' if answered else 'NO'}; target >= 1000/s with p99 <= 100 ms: "
            f"{'MET' if met else 'NOT MET'} "
            f"(steady p99 {q[98] * 1000:.0f} ms; max {fast_rps:.0f}/s closed loop)"
        )
        second = [paced.window(t, t + 1) for t in range(int(args.seconds))]
        print(
            "  paced p99 ms per second: "
            + " ".join(
                f"{statistics.quantiles(sorted(w.latencies), n=100)[98] * 1000:.0f}"
                if len(w.latencies) > 1
                else "-"
                for w in second
            )
        )
        for name, stats in (("bare", bare), ("fast", fast), ("paced", paced)):
            print(
                f"  statuses {name}: {dict(sorted(stats.statuses.items()))}, connection errors {stats.errors}"
            )
        if shared is not None:
            print(f"  paced: {shared.opened} upstream connections opened by the proxy pool")

        print("\nchecks from the database:")
        with app.app_context():
            ok &= verify("(2) heartbeats, max", [u for u, _ in fast_users], fast)
            ok &= verify("(3) heartbeats, paced", [u for u, _ in paced_users], paced)
            db.session.remove()
            db.engine.dispose()
        print(f"\nchecks: {'all OK' if ok else 'SOME WRONG (see above)'}; gunicorn log: {log}")
    finally:
        drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
