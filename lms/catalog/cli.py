"""``flask catalog …``: bulk-load a vendor's course list. Thin: read the file, call the service, commit."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import gettext

from lms.core.cli import fail
from lms.core.db import db
from lms.core.errors import LmsError

catalog_cli = AppGroup("catalog", help="Course catalog commands (bulk import).")


@catalog_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "login_name", required=True, help="Login of the admin doing the import.")
@click.option("--org", "org_code", default=None, help="Code of the unit that will own the courses.")
def import_command(file: Path, login_name: str, org_code: str | None) -> None:
    """Import courses from a .csv (UTF-8 or GB18030), .xlsx or .jsonl file; all rows or none."""
    from lms.accounts import queries
    from lms.catalog.importing import ImportRejected, default_org, import_courses

    actor = queries.find_user_by_login(login_name.strip().lower())
    if actor is None:
        raise click.ClickException(f"没有登录名为 {login_name} 的账号")
    org = queries.find_org_by_code(org_code.upper()) if org_code else default_org(actor)
    if org is None:
        raise click.ClickException(f"没有编码为 {org_code} 的单位")
    try:
        result = import_courses(actor=actor, org=org, filename=file.name, data=file.read_bytes())
    except ImportRejected as rejected:
        db.session.rollback()
        click.echo(gettext(rejected.message_id), err=True)
        for error in rejected.errors:
            where = f"第 {error.row} 行" if error.row else "文件"
            column = f"「{error.column}」" if error.column else ""
            click.echo(f"  {where}{column}：{gettext(error.reason)}", err=True)
        raise SystemExit(1) from None
    except LmsError as error:
        db.session.rollback()
        fail(error)
    db.session.commit()
    click.echo(
        f"课程导入完成（{org.name}）：新建 {len(result.created)} 门，更新 {len(result.updated)} 门，"
        f"未变 {result.unchanged} 门"
    )
