"""Thin Celery task: submit attempts whose deadline passed while their cadre was away."""

from __future__ import annotations

from celery import shared_task

from lms.core.db import utcnow
from lms.exams.attempts import sweep_overdue


@shared_task(name="exams.sweep_overdue", ignore_result=True)
def sweep_overdue_task() -> int:
    return sweep_overdue(utcnow())
