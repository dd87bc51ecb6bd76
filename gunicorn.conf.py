"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Release step before starting: ``flask db upgrade``. The app factory touches no database, so
``preload_app`` is safe; engines are disposed after fork so workers never share a connection.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
keepalive = 5
preload_app = True
# "-": stdout; "" turns gunicorn's access log off (when nginx in front logs the requests: at heartbeat
# rates formatting the line costs ~1/8 of a worker's CPU, benchmarks/heartbeats.py --access-log)
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_fork(server, worker):
    from lms.core.db import db

    app = worker.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)


def when_ready(server):
    """Load the Chinese word segmenter's dictionary once in the master (about a second), before the
    workers fork, instead of in every worker on its first search."""
    from search import warm_up

    warm_up()
