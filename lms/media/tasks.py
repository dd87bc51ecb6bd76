"""Thin Celery tasks for media processing and its recovery sweep."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from lms.media.processing import ProcessingConfig, process_asset, sweep
from lms.media.storage import get_storage
from lms.settings import Settings
from media_pipeline.probe import Limits


def processing_config(settings: Settings) -> ProcessingConfig:
    return ProcessingConfig(
        limits=Limits(max_duration_s=settings.media_max_duration_minutes * 60.0),
        preset=settings.media_preset,
    )


@shared_task(name="media.process_asset", ignore_result=True)
def process_asset_task(asset_id: int, token: str) -> str:
    settings: Settings = current_app.extensions["lms.settings"]
    return process_asset(asset_id, token, store=get_storage(), config=processing_config(settings))


@shared_task(name="media.sweep", ignore_result=True)
def sweep_task() -> dict[str, int]:
    return sweep(store=get_storage())
