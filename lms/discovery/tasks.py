"""Thin Celery tasks for search sync."""

from __future__ import annotations

from celery import shared_task

from lms.core.db import db
from lms.discovery.engine import get_search_engine
from lms.discovery.services import reindex_all, sync_outbox
from search import SearchUnavailable


@shared_task(name="discovery.sync_search", bind=True, max_retries=None, ignore_result=True)
def sync_search(self) -> None:  # type: ignore[no-untyped-def]
    """Drain the outbox; while the engine is down, retry with backoff up to 5 minutes apart."""
    try:
        while sync_outbox(get_search_engine()):
            db.session.commit()
    except SearchUnavailable as error:
        db.session.commit()  # keep the attempt counts
        raise self.retry(exc=error, countdown=min(300, 5 * 2 ** min(self.request.retries, 6))) from error


@shared_task(name="discovery.reindex_search", ignore_result=True)
def reindex_search() -> None:
    """Fill a new index (first start, or a new mapping version) from the database."""
    reindex_all(get_search_engine())
