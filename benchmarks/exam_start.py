"""Benchmark: an exam start spike (cadres starting within a minute, then autosaving), gunicorn + PostgreSQL.

    eval "$(scripts/services.sh env)"       # PostgreSQL
    .venv/bin/python benchmarks/exam_start.py [--cadres 1000] [--start-window 60] [--autosave-interval 30]
                                              [--autosave-seconds 60] [--seconds 10] [--connections 50]
                                              [--workers 5]

In a throwaway PostgreSQL database (migrated, dropped at the end), through the API (Flask's test client,
a teacher's bearer token): a question bank of 100 questions in 5 categories (each category 4 of every type:
single, multiple, true_false, fill_blank, short_answer), a test of 5 random slots drawing 4 questions from
each category (20 questions, 5 marks each, questions and options shuffled, 30 min time limit), published;
then ``--cadres`` cadres of the org with bearer tokens. Over HTTP/1.1 keep-alive against gunicorn (the
gunicorn.conf.py settings: gthread, ``--workers`` x GUNICORN_THREADS threads, keep-alive 5 s, so a
connection idle longer than 4 s is reopened, as a browser would):

(1) start spike: every cadre sends ``POST /api/v1/exams/<id>/attempts`` at a uniformly random moment of
    ``--start-window`` seconds (on a new connection); then, from its start on, autosaves one answer
    (``PUT /api/v1/attempts/<id>/answers/<position>`` with ``X-Attempt-Token``, a valid answer for the
    question's type, positions in order) every ``--autosave-interval`` s until ``--autosave-seconds``
    after the window: the starts and the autosaves overlap as in a real exam room. Reports the start
    latency and the paced autosaves (~cadres/interval offered per s once everybody has started);
(2) autosave capacity: ``--connections`` connections in a closed loop, each cycling over its share of
    the attempts, for ``--seconds``;
(3) ceiling: ``GET /healthz`` (returns a constant; touches no database or service) in a closed loop on
    ``--connections`` connections for ``--seconds``.

At a deadline no new request is sent and those in flight are awaited, so every response is counted.
Then, from the database: exactly one attempt per cadre (``--cadres`` rows, as many as 201 starts), no
cadre with more than one in_progress attempt, every paper 20 distinct questions with 4 per category,
and the sum of ``exam_answers.saves`` equal to the number of 200 autosave responses.

The load generator is one asyncio process with raw HTTP/1.1 sockets (its CPU share is printed, and the
whole machine's busy share from /proc/stat) on the same 2-core machine as gunicorn and PostgreSQL, so the
figures are a floor. Prints figures only; checks print OK or WRONG.
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
CATEGORIES = ("党章党规", "理论学习", "纪律处分条例", "党史学习", "时事政治")
TYPES = ("single", "multiple", "true_false", "fill_blank", "short_answer")
PER_SLOT = 4
IDLE_S = 4.0  # gunicorn keepalive is 5 s: reopen a connection idle longer than this
ANSWERS: dict[str, object] = {
    "single": {"choice": "A"},
    "multiple": {"choices": ["A", "C"]},
    "true_false": {"value": True},
    "fill_blank": {"blanks": ["实事求是"]},
    "short_answer": {"text": "坚持全面从严治党，把纪律和规矩挺在前面，以自我革命引领社会革命。"},
}


# Setup ---------------------------------------------------------------------------------------------


def _env(tag: str) -> dict[str, str]:
    return bench_env("exam-start", tag)


def _question(kind: str, category: str, n: int) -> dict[str, object]:
    stem = f"【{category}】第{n}题：关于党的建设的表述，下列说法正确的是？"
    options = [{"key": k, "text": f"选项{k}：关于{category}的第{n}种表述"} for k in "ABCD"]
    content: dict[str, object] = {"type": kind, "stem": stem, "explanation": f"参见{category}相关条文。"}
    if kind == "single":
        content |= {"options": options, "correct": ["A"]}
    elif kind == "multiple":
        content |= {"options": options, "correct": ["A", "B"], "partial": "miss_half"}
    elif kind == "true_false":
        content |= {"correct": True}
    elif kind == "fill_blank":
        content |= {"stem": f"【{category}】第{n}题：坚持＿＿的思想路线。", "blanks": [["实事求是"]]}
    else:
        content |= {"reference_answer": "要点：政治建设、思想建设、组织建设、作风建设、纪律建设。"}
    return {"content": content, "category": category, "difficulty": 1 + n % 5}


def setup(app, cadres: int) -> tuple[int, list[tuple[int, str]], dict[int, str]]:  # type: ignore[no-untyped-def]
    """The bank, the published test and ``cadres`` cadres; returns the exam id, (user id, bearer token)
    pairs and each question's category."""
    from lms.accounts.services import issue_token
    from lms.core.db import db
    from tests.factories import make_org, make_teacher, make_user

    with app.app_context():
        org = make_org(name="基准测试党校")
        teacher = make_teacher(org=org, name="命题教师")
        teacher_token, _ = issue_token(user=teacher, ttl=timedelta(hours=6))
        org_id = org.id
        db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {teacher_token}"}

    def call(method: str, path: str, payload: object, expect: int) -> dict:  # type: ignore[type-arg]
        response = client.open(path, method=method, json=payload, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(
                f"{method} {path}: HTTP {response.status_code} {response.get_data(as_text=True)}"
            )
        return response.get_json()

    bank = call("POST", "/api/v1/question-banks", {"name": "干部在线考试题库"}, 201)["bank"]
    categories = {}
    for category in CATEGORIES:
        for n in range(len(TYPES) * PER_SLOT):
            made = call(
                "POST",
                f"/api/v1/question-banks/{bank['id']}/questions",
                _question(TYPES[n % len(TYPES)], category, n + 1),
                201,
            )
            categories[made["question"]["id"]] = category
    exam = call(
        "POST",
        "/api/v1/exams",
        {
            "title": "2025年度干部党纪知识在线考试",
            "bank_ids": [bank["id"]],
            "structure": [
                {"kind": "random", "category": c, "count": PER_SLOT, "marks": 5} for c in CATEGORIES
            ],
            "shuffle_questions": True,
            "shuffle_options": True,
            "time_limit_minutes": 30,
            "max_attempts": 1,
            "pass_percent": 60,
            "review": "score",
        },
        201,
    )["exam"]
    call("POST", f"/api/v1/exams/{exam['id']}/publish", None, 200)
    with app.app_context():
        from lms.accounts.models import Organization

        org = db.session.get(Organization, org_id)
        users = []
        for _ in range(cadres):
            user = make_user(org=org)
            token, _ = issue_token(user=user, ttl=timedelta(hours=6))
            users.append((user.id, token))
        db.session.commit()
        db.session.remove()
    return exam["id"], users, categories


def sql_per_request(app, exam_id: int, token: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """SQL statements one request runs, in this process through Flask's test client (a spare cadre)."""
    from sqlalchemy import event

    from lms.core.db import db

    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *_: object) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    out, started = {}, {}

    def start():  # type: ignore[no-untyped-def]
        response = client.post(f"/api/v1/exams/{exam_id}/attempts", headers=headers)
        started.update(response.get_json())
        return response

    def save():  # type: ignore[no-untyped-def]
        item = started["items"][0]
        return client.put(
            f"/api/v1/attempts/{started['id']}/answers/0",
            json={"answer": ANSWERS[item["question"]["type"]]},
            headers=headers | {"X-Attempt-Token": started["device_token"]},
        )

    for label, call in (
        ("GET /healthz", lambda: client.get("/healthz")),
        ("POST start", start),
        ("PUT autosave", save),
    ):
        event.listen(engine, "before_cursor_execute", count)
        response = call()
        event.remove(engine, "before_cursor_execute", count)
        if response.status_code >= 300:
            raise RuntimeError(f"{label}: HTTP {response.status_code} {response.get_data(as_text=True)}")
        out[label] = len(statements)
        statements.clear()
    return out


# Load generator: asyncio, raw HTTP/1.1 keep-alive --------------------------------------------------


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last = 0.0

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is not None and time.perf_counter() - self.last > IDLE_S:
            self.close()  # the server closes idle keep-alive connections after 5 s
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
        self.last = time.perf_counter()
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request(method: str, path: str, token: str, payload: object = None, extra: str = "") -> bytes:
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    return (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n{extra}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # of 2xx responses
    statuses: Counter[int] = field(default_factory=Counter)
    samples: dict[int, bytes] = field(default_factory=dict)  # the first body of each non-2xx status
    errors: int = 0  # connection failures / timeouts
    elapsed: float = 0.0
    cpu: float = 0.0
    busy: float = 0.0  # the machine's busy share over the phase (all cores, /proc/stat)

    async def timed(self, conn: Conn, raw: bytes) -> tuple[int, bytes] | None:
        start = time.perf_counter()
        try:
            status, body = await asyncio.wait_for(conn.request(raw), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            self.errors += 1
            return None
        self.statuses[status] += 1
        if 200 <= status < 300:
            self.latencies.append(time.perf_counter() - start)
        else:
            self.samples.setdefault(status, body[:200])
        return status, body


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class Meter:
    """Wall time, this process's CPU and the machine's busy share between ``start()`` and ``stop()``."""

    def start(self) -> None:
        self.cpu, self.wall, self.machine = time.process_time(), time.perf_counter(), _cpu_times()

    def stop(self, *stats: Stats) -> None:
        busy, total = (a - b for a, b in zip(_cpu_times(), self.machine, strict=True))
        for s in stats:
            s.elapsed = s.elapsed or time.perf_counter() - self.wall
            s.cpu = time.process_time() - self.cpu
            s.busy = busy / total if total else 0.0


async def _bare(port: int, connections: int, seconds: float) -> Stats:
    stats, meter = Stats(), Meter()
    raw = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"

    async def loop(deadline: float) -> None:
        conn = Conn(port)
        while time.perf_counter() < deadline:
            await stats.timed(conn, raw)
        conn.close()

    meter.start()
    await asyncio.gather(*(loop(meter.wall + seconds) for _ in range(connections)))
    meter.stop(stats)
    return stats


@dataclass
class Cadre:
    user_id: int
    token: str
    attempt_id: int = 0
    device_token: str = ""
    types: list[str] = field(default_factory=list)  # question type per position
    next_position: int = 0

    def autosave(self) -> bytes:
        position = self.next_position % len(self.types)
        self.next_position += 1
        return _request(
            "PUT",
            f"/api/v1/attempts/{self.attempt_id}/answers/{position}",
            self.token,
            {"answer": ANSWERS[self.types[position]]},
            f"X-Attempt-Token: {self.device_token}\r\n",
        )

    def started(self, body: bytes) -> None:
        data = json.loads(body)
        self.attempt_id, self.device_token = data["id"], data["device_token"]
        self.types = [item["question"]["type"] for item in data["items"]]


async def _spike(
    port: int, exam_id: int, cadres: list[Cadre], window: float, interval: float, after: float
) -> tuple[Stats, Stats]:
    """Each cadre on its own connection: a start at a uniformly random moment of ``window``, then an
    autosave every ``interval`` s until ``window + after``. Returns (starts, autosaves)."""
    starts, saves, meter = Stats(), Stats(), Meter()
    rng = random.Random(20250701)
    offsets = [rng.uniform(0, window) for _ in cadres]

    async def cadre(c: Cadre, offset: float, began: float, deadline: float) -> None:
        await asyncio.sleep(max(0.0, began + offset - time.perf_counter()))
        conn = Conn(port)
        answer = await starts.timed(conn, _request("POST", f"/api/v1/exams/{exam_id}/attempts", c.token))
        if answer is None or answer[0] != 201:
            conn.close()
            return
        c.started(answer[1])
        due = began + offset + interval
        while due < deadline:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await saves.timed(conn, c.autosave())
            due += interval
        conn.close()

    meter.start()
    await asyncio.gather(
        *(cadre(c, o, meter.wall, meter.wall + window + after) for c, o in zip(cadres, offsets, strict=True))
    )
    meter.stop(starts, saves)
    return starts, saves


async def _max_autosave(port: int, cadres: list[Cadre], connections: int, seconds: float) -> Stats:
    """``connections`` connections back to back, connection k cycling over cadres k, k + C, k + 2C, ..."""
    stats, meter = Stats(), Meter()
    ready = [c for c in cadres if c.attempt_id]

    async def loop(k: int, deadline: float) -> None:
        mine, conn, i = ready[k::connections], Conn(port), 0
        while mine and time.perf_counter() < deadline:
            await stats.timed(conn, mine[i % len(mine)].autosave())
            i += 1
        conn.close()

    meter.start()
    await asyncio.gather(*(loop(k, meter.wall + seconds) for k in range(connections)))
    meter.stop(stats)
    return stats


# Checks from the database --------------------------------------------------------------------------


def verify(user_ids: list[int], categories: dict[int, str], starts: Stats, saved_200: int) -> bool:
    import sqlalchemy as sa

    from lms.core.db import db

    ids = {"ids": user_ids}
    rows, users = db.session.execute(
        sa.text("SELECT count(*), count(DISTINCT user_id) FROM exam_attempts WHERE user_id = ANY(:ids)"), ids
    ).one()
    ok_attempts = rows == users == len(user_ids) == starts.statuses[201]
    doubled = db.session.execute(
        sa.text(
            "SELECT count(*) FROM (SELECT user_id FROM exam_attempts WHERE user_id = ANY(:ids) "
            "AND status = 'in_progress' GROUP BY exam_id, user_id HAVING count(*) > 1) d"
        ),
        ids,
    ).scalar_one()
    statuses = db.session.execute(
        sa.text("SELECT status, count(*) FROM exam_attempts WHERE user_id = ANY(:ids) GROUP BY 1"), ids
    ).all()
    papers = db.session.execute(
        sa.text("SELECT paper FROM exam_attempts WHERE user_id = ANY(:ids)"), ids
    ).scalars()
    bad_papers, orders = 0, set()
    for paper in papers:
        paper = json.loads(paper) if isinstance(paper, str) else paper
        qids = [item["question_id"] for item in paper]
        per_category = Counter(categories[q] for q in qids)
        if len(set(qids)) != len(CATEGORIES) * PER_SLOT or set(per_category.values()) != {PER_SLOT}:
            bad_papers += 1
        orders.add(tuple(qids))
    saves, answers = db.session.execute(
        sa.text(
            "SELECT coalesce(sum(a.saves), 0), count(a.id) FROM exam_answers a "
            "JOIN exam_attempts t ON t.id = a.attempt_id WHERE t.user_id = ANY(:ids)"
        ),
        ids,
    ).one()
    print(
        f"  attempts {rows} for {users} cadres vs {len(user_ids)} cadres and {starts.statuses[201]} "
        f"201 starts -> {'OK' if ok_attempts else 'WRONG'}; statuses "
        + ", ".join(f"{s} {n}" for s, n in statuses)
    )
    print(f"  cadres with more than one in_progress attempt: {doubled} -> {'OK' if not doubled else 'WRONG'}")
    print(
        f"  papers: {rows - bad_papers} of {rows} have {len(CATEGORIES) * PER_SLOT} distinct questions, "
        f"{PER_SLOT} per category -> {'OK' if not bad_papers else 'WRONG'}; {len(orders)} distinct "
        f"question orders"
    )
    print(
        f"  sum(exam_answers.saves) {saves} (in {answers} answer rows) vs 200 autosave responses "
        f"{saved_200} -> {'OK' if saves == saved_200 else 'WRONG'}"
    )
    return ok_attempts and not doubled and not bad_papers and saves == saved_200


# Main ----------------------------------------------------------------------------------------------


def _q(stats: Stats) -> list[float]:
    values = sorted(stats.latencies)
    return (
        statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else (values or [0.0]) * 99
    )


def _row(label: str, load: str, stats: Stats) -> str:
    q = _q(stats)
    non2xx = sum(n for s, n in stats.statuses.items() if not 200 <= s < 300)
    return (
        f"  {label:<24} {load:<20} {len(stats.latencies):>6} {len(stats.latencies) / stats.elapsed:8.1f} "
        f"{q[49] * 1000:8.1f} {q[94] * 1000:8.1f} {q[98] * 1000:8.1f} "
        f"{max(stats.latencies or [0]) * 1000:8.1f} "
        f"{non2xx:>7} {stats.errors:>5} {100 * stats.cpu / stats.elapsed:6.0f}% {100 * stats.busy:6.0f}%"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cadres", type=int, default=1000)
    parser.add_argument("--start-window", type=float, default=60, help="starts spread over this many s")
    parser.add_argument(
        "--autosave-interval", type=float, default=30, help="each cadre's autosave interval, s"
    )
    parser.add_argument(
        "--autosave-seconds", type=float, default=60, help="paced autosaves go on this long after the window"
    )
    parser.add_argument("--seconds", type=float, default=10, help="closed-loop phases (2, 3)")
    parser.add_argument("--connections", type=int, default=50, help="closed-loop connections (phases 2, 3)")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", (os.cpu_count() or 1) * 2 + 1))
    )
    args = parser.parse_args()
    command = (
        ".venv/bin/python benchmarks/exam_start.py "
        f"--cadres {args.cadres} --start-window {args.start_window:g} "
        f"--autosave-interval {args.autosave_interval:g} --autosave-seconds {args.autosave_seconds:g} "
        f"--seconds {args.seconds:g} --connections {args.connections} --workers {args.workers}"
    )
    base = os.environ.get("LMS_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        print('needs PostgreSQL: eval "$(scripts/services.sh env)"', file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(4)
    env = _env(tag)
    url, drop = scratch_database(base, f"lms_bench_exam_start_{tag}")
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
        exam_id, users, categories = setup(app, args.cadres + 1)
        setup_s = time.perf_counter() - started
        sql = sql_per_request(app, exam_id, users[-1][1])
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        cadres = [Cadre(user_id, token) for user_id, token in users[:-1]]
        print(f"command: {command}")
        print(
            f"database: {url.rsplit('/', 1)[-1]} (PostgreSQL, dropped afterwards); a bank of "
            f"{len(categories)} questions ({len(CATEGORIES)} categories x {len(TYPES)} types x {PER_SLOT}), "
            f"a published 30 min test of {len(CATEGORIES)} random slots x {PER_SLOT} (shuffled) and "
            f"{len(users)} cadres with tokens in {setup_s:.1f} s"
        )
        print("SQL statements per request: " + ", ".join(f"{k} {v}" for k, v in sql.items()))
        threads = os.environ.get("GUNICORN_THREADS", "4")
        print(
            f"gunicorn: {args.workers} workers x {threads} threads (gthread, gunicorn.conf.py); "
            f"cpu count {os.cpu_count()}; load average before {os.getloadavg()[0]:.2f}"
        )
        log = OUT / f"exam-start-gunicorn-{tag}.log"
        with gunicorn(env, workers=args.workers, log_path=log) as port:
            asyncio.run(_bare(port, args.connections, 1.0))  # every worker warm
            starts, paced = asyncio.run(
                _spike(
                    port, exam_id, cadres, args.start_window, args.autosave_interval, args.autosave_seconds
                )
            )
            load_spike = os.getloadavg()[0]
            fast = asyncio.run(_max_autosave(port, cadres, args.connections, args.seconds))
            load_fast = os.getloadavg()[0]
            bare = asyncio.run(_bare(port, args.connections, args.seconds))

        print(
            f"\nload average after the spike {load_spike:.2f}, after the autosave capacity phase "
            f"{load_fast:.2f}, at the end {os.getloadavg()[0]:.2f} (2 cores, shared with other work)"
        )
        print(
            "  {:<24} {:<20} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>7} {:>7}".format(
                "phase",
                "load",
                "2xx",
                "2xx/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "non-2xx",
                "conn",
                "client",
                "machine",
            )
        )
        print(_row("(1) start spike", f"{args.cadres} in {args.start_window:g} s", starts))
        print(
            _row(
                "(1) autosaves, paced",
                f"{args.cadres} x 1/{args.autosave_interval:g}s",
                paced,
            )
        )
        print(_row("(2) autosaves, max", f"{args.connections} conns", fast))
        print(_row("(3) GET /healthz", f"{args.connections} conns", bare))
        print(
            "  (2xx/s over the phase; client = the load generator's CPU, machine = all cores busy, "
            "of the phase's wall time)"
        )
        start_p95 = _q(starts)[94]
        fast_rps = len(fast.latencies) / fast.elapsed
        bare_rps = len(bare.latencies) / bare.elapsed
        print(
            f"  start p95 {start_p95 * 1000:.0f} ms: target <= 200 ms "
            f"{'MET' if start_p95 <= 0.2 and len(starts.latencies) == args.cadres else 'NOT MET'} "
            f"({len(starts.latencies)} of {args.cadres} started, "
            f"~{args.cadres / args.start_window:.0f}/s offered)"
        )
        print(
            f"  autosaves: paced offered ~{args.cadres / args.autosave_interval:.0f}/s once all started, "
            f"served {len(paced.latencies)} in {paced.elapsed:.0f} s; capacity {fast_rps:.0f}/s closed loop: "
            f"target >= 500/s {'MET' if fast_rps >= 500 else 'NOT MET'}"
        )
        print(
            f"  ratio autosave max / bare ceiling: {fast_rps / bare_rps:.3f} "
            f"({fast_rps:.0f} / {bare_rps:.0f} per s)"
        )
        for name, stats in (("starts", starts), ("paced", paced), ("max", fast), ("bare", bare)):
            print(
                f"  statuses {name}: {dict(sorted(stats.statuses.items()))}, connection errors {stats.errors}"
                + "".join(f"; first {s}: {b!r}" for s, b in stats.samples.items())
            )

        print("\nchecks from the database:")
        with app.app_context():
            ok &= verify(
                [c.user_id for c in cadres], categories, starts, paced.statuses[200] + fast.statuses[200]
            )
            db.session.remove()
            db.engine.dispose()
        print(f"\nchecks: {'all OK' if ok else 'SOME WRONG (see above)'}; gunicorn log: {log}")
    finally:
        drop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
