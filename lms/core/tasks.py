"""Celery wired the Flask way: tasks run inside an app context; enqueue only after commit."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery, Task
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from lms.core.db import AFTER_COMMIT, db


def celery_init_app(app: Flask, broker_url: str, *, always_eager: bool = False) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=broker_url,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # a worker killed mid-job leaves the message for another worker
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_always_eager=always_eager,
        task_eager_propagates=always_eager,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # Redis: redeliver a task whose worker died after an hour. (kombu's SQLAlchemy transport hands
        # these options to create_engine, so it gets none.)
        broker_transport_options={"visibility_timeout": 3600} if broker_url.startswith("redis") else {},
        timezone="Asia/Shanghai",
        # Sweeps that recover work an after-commit dispatch could not start (broker or engine down).
        beat_schedule={
            "discovery-sync-sweep": {"task": "discovery.sync_search", "schedule": 60.0},
            "media-sweep": {"task": "media.sweep", "schedule": 60.0},
            "exams-overdue": {"task": "exams.sweep_overdue", "schedule": 30.0},
            "reports-exports-sweep": {"task": "reports.sweep_exports", "schedule": 3600.0},
        },
        enable_utc=True,
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def enqueue(task_name: str, *args: object) -> None:
    """Send a task through *this* app's Celery (its broker, its eager setting), never Celery's process-wide
    default app, which is whichever app was created last."""
    current_app.extensions["celery"].tasks[task_name].delay(*args)


def call_after_commit(callback: Callable[[], object], session: Session | None = None) -> None:
    """Run ``callback`` once the current transaction commits (see ``lms.core.db.Session``); a rollback
    of the outer transaction drops it."""
    target = session if session is not None else db.session()
    target.info.setdefault(AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # A rolled-back SAVEPOINT (begin_nested) leaves the outer transaction, and its pending work, alive.
    if not previous_transaction.nested:
        session.info.pop(AFTER_COMMIT, None)
