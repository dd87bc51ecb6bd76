"""``flask search …``: drain the outbox now, or write every published course to the index again."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from lms.core.db import db
from lms.discovery import services
from lms.discovery.engine import get_search_engine

search_cli = AppGroup("search", help="Course search index.")


@search_cli.command("sync")
def sync_command() -> None:
    """Apply the queued catalog changes to the index."""
    done = 0
    while batch := services.sync_outbox(get_search_engine()):
        db.session.commit()
        done += batch
    click.echo(f"已同步 {done} 项变更，待同步 {services.pending_changes()} 项")


@search_cli.command("reindex")
def reindex_command() -> None:
    """Rebuild the index beside the live one and switch to it (no downtime; safe to repeat)."""
    report = services.reindex_all(get_search_engine())
    click.echo(
        f"已重建索引：{report.documents} 门已发布课程，期间变更 {report.replayed} 项，"
        f"用时 {report.seconds:.1f} 秒"
    )
