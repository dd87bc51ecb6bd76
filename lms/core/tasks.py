"""Celery wired the Flask way: tasks run inside an app context; enqueue only after commit."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery, Task
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from lms.core.db import db

_PENDING = "lms_after_commit"


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
        enable_utc=True,
    )
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def call_after_commit(callback: Callable[[], object], session: Session | None = None) -> None:
    """Run ``callback`` once the current transaction commits; drop it on rollback."""
    target = session if session is not None else db.session()
    target.info.setdefault(_PENDING, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_PENDING, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # A rolled-back SAVEPOINT (begin_nested) leaves the outer transaction, and its pending work, alive.
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
