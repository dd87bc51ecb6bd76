"""``flask lms …`` commands. Thin: parse, call a service, commit."""

from __future__ import annotations

import dataclasses
import json
import sys

import click
from flask.cli import AppGroup

from lms.core.db import db

lms_cli = AppGroup("lms", help="Platform commands (demo data, admin accounts).")


@lms_cli.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="Print the demo logins as JSON.")
def seed_demo_command(as_json: bool) -> None:
    """Load the demo province (idempotent) and print the demo logins."""
    from lms.demo.seed import seed_demo

    report = seed_demo()
    db.session.commit()
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"演示数据：新建单位 {report.created_orgs} 个，新建账号 {report.created_users} 个"
        + ("（已是最新，未改动）" if not (report.created_orgs or report.created_users) else "")
    )
    click.echo(f"演示账号（密码均为 {report.password}）：")
    for login in report.logins:
        click.echo(f"  {login.login_name:<16} {login.role:<8} {login.display_name}  ·  {login.org}")
    click.echo("  … 以及 gb0004 至 gb0200 等学员账号")


@lms_cli.command("create-admin")
@click.argument("login_name")
@click.option("--name", "display_name", default="系统管理员", show_default=True)
@click.option("--org-code", required=True, help="Code of the unit the account belongs to.")
def create_admin_command(login_name: str, display_name: str, org_code: str) -> None:
    """Create a system administrator; prints the initial password (to be changed at first sign-in)."""
    from lms.accounts import queries, services
    from lms.accounts.models import Role, RoleGrant

    org = queries.find_org_by_code(org_code.upper())
    if org is None:
        click.echo(f"没有编码为 {org_code} 的单位", err=True)
        sys.exit(1)
    data = services.clean_user_data(login_name=login_name, display_name=display_name)
    user, initial = services.create_user(actor=None, org=org, data=data, is_learner=False)
    db.session.add(RoleGrant(user_id=user.id, role=Role.SYSTEM_ADMIN))
    db.session.commit()
    click.echo(f"已创建系统管理员 {user.login_name}，初始密码：{initial}（首次登录须修改）")
