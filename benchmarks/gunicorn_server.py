"""Run the app under gunicorn for a benchmark: a free port, wait for /healthz, stop afterwards."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int, log_path: Path, threads: int | None = None, access_log: bool = True
) -> Iterator[int]:
    """Yields the port of a running server; its stderr (tracebacks included) goes to ``log_path``.
    ``access_log``: gunicorn formats an access line per request (written to /dev/null here), as the
    production settings do; off, it formats nothing (a site whose nginx logs the requests)."""
    port = free_port()
    env = env | ({"GUNICORN_THREADS": str(threads)} if threads else {})
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                *(["--access-logfile", "/dev/null"] if access_log else []),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env | ({} if access_log else {"GUNICORN_ACCESSLOG": ""}),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            for _ in range(150):
                if server.poll() is not None:
                    raise RuntimeError(f"gunicorn exited; see {log_path}")
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                raise RuntimeError(f"gunicorn did not answer; see {log_path}")
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
