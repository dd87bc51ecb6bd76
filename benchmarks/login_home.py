"""Benchmark: sign-in and the home page under 50 concurrent users, on gunicorn (+ PostgreSQL).

    eval "$(scripts/services.sh env)"      # PostgreSQL (falls back to SQLite with a warning)
    .venv/bin/python benchmarks/login_home.py [--users 50] [--seconds 20]

Phase 1, sign-in: every user repeatedly loads /login, posts the form (scrypt password check) and
follows to the home page. Phase 2, home page: every user, signed in, loads / in a loop.
Clients run in separate processes (so the client's GIL is not the ceiling) on the same 2-core
machine as the server, so the figures are a floor. Prints requests/s and p50/p95/p99 per phase.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from gunicorn_server import gunicorn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks/out"
PY = str(ROOT / ".venv/bin/python")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text


def _sign_in(client: Client, login: str, password: str) -> tuple[float, float]:
    """Returns (seconds for POST /login, seconds for the home page that follows)."""
    client.cookies.clear()
    _, page = client.request("GET", "/login")
    match = CSRF_RE.search(page)
    assert match, "no CSRF token on /login"
    token = match.group(1) or match.group(2)
    start = time.perf_counter()
    status, _ = client.request(
        "POST", "/login", urlencode({"username": login, "password": password, "csrf_token": token})
    )
    posted = time.perf_counter()
    assert status == 302, f"sign-in failed with {status}"
    status, _ = client.request("GET", "/")
    assert status == 200
    return posted - start, time.perf_counter() - posted


def _worker(args: tuple[int, str, str, str, float, int]) -> list[tuple[str, float]]:
    port, phase, login, password, seconds, _seed = args
    client = Client(port)
    samples: list[tuple[str, float]] = []
    deadline = time.perf_counter() + seconds
    if phase == "signin":
        while time.perf_counter() < deadline:
            post, home = _sign_in(client, login, password)
            samples += [("login", post), ("home", home)]
    else:
        _sign_in(client, login, password)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, _ = client.request("GET", "/")
            assert status == 200, status
            samples.append(("home", time.perf_counter() - start))
    return samples


def _report(name: str, samples: list[tuple[str, float]], seconds: float) -> None:
    total = len(samples)
    print(f"\n{name}: {total} requests in {seconds:.1f} s = {total / seconds:.1f} req/s")
    for kind in sorted({k for k, _ in samples}):
        values = sorted(v for k, v in samples if k == kind)
        q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
        print(
            f"  {kind:<6} n={len(values):<6} {len(values) / seconds:7.1f}/s   p50 {q[49] * 1000:7.1f} ms   "
            f"p95 {q[94] * 1000:7.1f} ms   p99 {q[98] * 1000:7.1f} ms"
        )


def _wrk_home(port: int, users: int, seconds: float) -> None:
    """The home page again, driven by wrk (C, far lighter than Python clients) with one signed-in
    session cookie, when wrk is installed (apt-get install wrk)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("\n(wrk not installed: skipping the wrk phase)")
        return
    client = Client(port)
    _sign_in(client, "gb0001", "demo2026")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    out = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{users}",
            f"-d{int(seconds)}s",
            "--latency",
            "-H",
            f"Cookie: {cookie}",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    p90 = re.search(r"^\s+90%\s+(\S+)", out, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    print(
        f"\nphase home via wrk ({users} connections, one session): {rps.group(1) if rps else '?'} req/s   "
        f"p50 {p50.group(1) if p50 else '?'}   p90 {p90.group(1) if p90 else '?'}   "
        f"p99 {p99.group(1) if p99 else '?'}   non-2xx {errors.group(1) if errors else 0}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("GUNICORN_WORKERS", "5")))
    args = parser.parse_args()

    env = dict(os.environ)
    if not env.get("LMS_DATABASE_URL", "").startswith("postgresql"):
        print("WARNING: LMS_DATABASE_URL is not PostgreSQL; measuring on SQLite", file=sys.stderr)
        env.setdefault("LMS_INSTANCE_DIR", str(ROOT / "benchmarks/out/instance"))
    env |= {
        "LMS_ENV": "production",
        "LMS_SECRET_KEY": "benchmark-secret-key-0123456789",
        "LMS_SESSION_COOKIE_SECURE": "0",
        "FLASK_APP": "wsgi:app",
    }
    env.pop("LMS_TEST_DATABASE_URL", None)
    env.pop("LMS_REQUIRE_SERVICES", None)
    OUT.mkdir(parents=True, exist_ok=True)
    flask = str(ROOT / ".venv/bin/flask")
    subprocess.run([flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([flask, "lms", "seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)

    with gunicorn(env, workers=args.workers, log_path=OUT / "gunicorn.log") as port:
        print(
            f"gunicorn: {args.workers} workers x 4 threads; database: {env.get('LMS_DATABASE_URL', 'sqlite')}"
        )
        print(f"{args.users} concurrent users, {args.seconds:.0f} s per phase, cpu count {os.cpu_count()}")
        logins = [f"gb{n:04d}" for n in range(1, args.users + 1)]
        with mp.Pool(args.users) as pool:
            for phase in ("signin", "home"):
                jobs = [(port, phase, login, "demo2026", args.seconds, i) for i, login in enumerate(logins)]
                start = time.perf_counter()
                results = pool.map(_worker, jobs)
                elapsed = time.perf_counter() - start
                _report(f"phase {phase}", [s for r in results for s in r], elapsed)
        _wrk_home(port, args.users, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
