"""``flask lms …`` commands. Thin: parse, call a service, commit."""

from __future__ import annotations

import dataclasses
import json

import click
from flask.cli import AppGroup

from lms.core.cli import fail
from lms.core.db import db
from lms.core.errors import LmsError

lms_cli = AppGroup("lms", help="Platform commands (demo data, admin accounts).")


@lms_cli.command("seed-demo")
@click.option("--json", "as_json", is_flag=True, help="Print the demo logins as JSON.")
@click.option("--media", is_flag=True, help="Also make and process a few demo lessons with ffmpeg (~1 min).")
def seed_demo_command(as_json: bool, media: bool) -> None:
    """Load the demo province (idempotent) and print the demo logins."""
    from flask import current_app

    from lms.demo.media import seed_demo_media
    from lms.demo.seed import seed_demo
    from lms.media.storage import get_storage

    report = seed_demo()
    db.session.commit()
    if media:
        if not as_json:
            click.echo("正在生成并转码演示视频课（约 1 分钟）…")
        made = seed_demo_media(get_storage(), current_app.extensions["lms.settings"])
        db.session.commit()
        if not as_json and made:
            click.echo(f"演示视频课：已处理 {made} 个课时，可用任一学员账号在“课程”中搜索“学习导引”观看。")
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"演示数据：新建单位 {report.created_orgs} 个，新建账号 {report.created_users} 个，"
        f"新建课程 {report.created_courses} 门"
        + (
            "（已是最新，未改动）"
            if not (report.created_orgs or report.created_users or report.created_courses)
            else ""
        )
    )
    click.echo(f"演示账号（密码均为 {report.password}）：")
    for login in report.logins:
        click.echo(f"  {login.login_name:<16} {login.role:<8} {login.display_name}  ·  {login.org}")
    click.echo("  … 以及 gb0004 至 gb0200 等学员账号")


@lms_cli.command("create-org")
@click.argument("name")
@click.option("--code", required=True, help="Unit code (unique), e.g. SF.")
@click.option(
    "--kind", default="province", show_default=True, help="province, city, county, township or unit."
)
@click.option("--parent-code", default=None, help="Code of the parent unit; omit for the root of the tree.")
def create_org_command(name: str, code: str, kind: str, parent_code: str | None) -> None:
    """Create a unit: on a new installation, the root of the org tree (then create-admin)."""
    from lms.accounts import queries, services

    parent = queries.find_org_by_code(parent_code.upper()) if parent_code else None
    if parent_code and parent is None:
        raise click.ClickException(f"没有编码为 {parent_code} 的单位")
    try:
        org = services.create_org(actor=None, parent=parent, name=name, kind=kind, code=code)
    except LmsError as error:
        fail(error)
    db.session.commit()
    click.echo(f"已创建单位 {org.name}（编码 {org.code}）")


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
        raise click.ClickException(f"没有编码为 {org_code} 的单位（先用 flask lms create-org 创建）")
    try:
        data = services.clean_user_data(login_name=login_name, display_name=display_name)
        user, initial = services.create_user(actor=None, org=org, data=data, is_learner=False)
    except LmsError as error:
        fail(error)
    db.session.add(RoleGrant(user_id=user.id, role=Role.SYSTEM_ADMIN))
    db.session.commit()
    click.echo(f"已创建系统管理员 {user.login_name}，初始密码：{initial}（首次登录须修改）")
