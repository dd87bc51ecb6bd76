"""``flask exams …``: question bank imports from the command line."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import gettext

from lms.accounts.queries import find_user_by_login
from lms.core.cli import fail
from lms.core.db import db
from lms.core.errors import LmsError
from lms.core.tabular import ImportRejected
from lms.exams import banks

exams_cli = AppGroup("exams", help="Online tests: question banks.")


@exams_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--bank", "bank_name", required=True, help="Bank name (created for the user if it does not exist)."
)
@click.option("--as", "login", required=True, help="Login of the teacher or administrator doing the import.")
def import_command(file: Path, bank_name: str, login: str) -> None:
    """Import FILE (.xlsx template, GIFT .gift/.txt, Moodle .xml) into a bank: all rows or none."""
    actor = find_user_by_login(login)
    if actor is None:
        raise click.ClickException(f"没有账号 {login}")
    try:
        bank = banks.find_bank_by_name(actor, bank_name) or banks.create_bank(actor=actor, name=bank_name)
        counts = banks.import_questions(actor=actor, bank=bank, filename=file.name, data=file.read_bytes())
    except ImportRejected as rejected:
        db.session.rollback()
        click.echo(gettext(rejected.message_id), err=True)
        for error in rejected.errors:
            where = f"（{error.column}）" if error.column else ""
            click.echo(f"  第 {error.row} 行{where}：{gettext(error.reason)}", err=True)
        raise SystemExit(1) from None
    except LmsError as error:
        db.session.rollback()
        fail(error)
    db.session.commit()
    created, updated, unchanged = counts["created"], counts["updated"], counts["unchanged"]
    click.echo(f"题库“{bank.name}”：新增 {created} 题，更新 {updated} 题，未变 {unchanged} 题")
