"""``flask reports …``: the ledger summaries behind the reports."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from lms.core.db import db
from lms.reports import summary

reports_cli = AppGroup("reports", help="Reports: the ledger summaries they read.")


@reports_cli.command("rebuild-summary")
def rebuild_summary_command() -> None:
    """Recompute the monthly and yearly ledger summaries from the ledger (ledger writes wait meanwhile)."""
    counts = summary.rebuild_summary()
    db.session.commit()
    for table, rows in counts.items():
        click.echo(f"{table}：已重算，{rows} 行")


@reports_cli.command("check-summary")
def check_summary_command() -> None:
    """Compare the summaries with a recomputation from the ledger; exit 1 if they differ."""
    drifts = summary.check_summary()
    for drift in drifts:
        state = "一致" if drift.ok else f"不一致：{drift.differing} 处"
        click.echo(f"{drift.table}：{drift.rows} 行，按台账应为 {drift.recomputed} 行，{state}")
    if not all(d.ok for d in drifts):
        raise click.ClickException("汇总表与学时台账不一致，请运行 flask reports rebuild-summary")
