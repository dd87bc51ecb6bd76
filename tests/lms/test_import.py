"""Bulk import: all or nothing, a per-row report in Chinese, and re-importing never duplicates."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from lms.accounts import importing
from lms.accounts.models import Rank, User
from lms.core.db import db
from tests.factories import csrf_token, login, make_admin, make_user, province_tree

HEADER = "登录名,姓名,所属单位,职级,干部类别,手机号\r\n"


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["登录名", "姓名", "所属单位", "职级", "干部类别", "手机号"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _count() -> int:
    return db.session.scalar(select(func.count(User.id))) or 0


@pytest.fixture
def county(db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    return orgs, make_admin(of=orgs["county11"])


def test_xlsx_import_creates_accounts_and_reimport_updates_them(county):
    orgs, admin = county
    data = _xlsx(
        [
            ["gb9001", "张三", "TP11U", "乡科级", "机关公务员", "13800000001"],
            ["gb9002", "李四", "测试省/测试1市/测试1市1县", "科级以下", "", ""],
        ]
    )
    result = importing.import_users(actor=admin, filename="名单.xlsx", data=data)
    assert len(result.created) == 2 and all(len(password) == 12 for _, password in result.created)
    user = db.session.scalar(select(User).where(User.login_name == "gb9002"))
    assert (
        user.org_id == orgs["county11"].id and user.rank == Rank.BELOW_SECTION and user.must_change_password
    )
    before = _count()
    again = importing.import_users(actor=admin, filename="名单.xlsx", data=data)
    assert (len(again.created), len(again.updated), again.unchanged) == (0, 0, 2)
    assert _count() == before
    changed = _xlsx([["gb9001", "张三丰", "TP11U", "乡科级", "机关公务员", "13800000001"]])
    third = importing.import_users(actor=admin, filename="名单.xlsx", data=changed)
    assert [u.display_name for u in third.updated] == ["张三丰"] and _count() == before


def test_gbk_csv_from_chinese_excel_is_read(county):
    _, admin = county
    data = (HEADER + "gb9101,王五,TP11U,乡科级,基层干部,\r\n").encode("gb18030")
    result = importing.import_users(actor=admin, filename="users.csv", data=data)
    assert result.created[0][0].display_name == "王五"


def test_a_file_with_bad_rows_is_rejected_whole_with_row_column_reason(county):
    _, admin = county
    before = _count()
    data = (
        HEADER
        + "gb9201,好人,TP11U,乡科级,,\r\n"
        + "bad name!,坏登录名,TP11U,,,\r\n"
        + "gb9203,,TP11U,,,\r\n"
        + "gb9204,某,TP11U,大官,,12ab\r\n"
        + "gb9201,重复,TP11U,,,\r\n"
        + "gb9206,外县,TP12U,,,\r\n"
        + "gb9207,没单位,NOPE,,,\r\n"
    ).encode("utf-8-sig")
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_users(actor=admin, filename="users.csv", data=data)
    found = {(e.row, e.column, e.reason) for e in rejected.value.errors}
    assert (
        3,
        "登录名",
        "Login name must be 2-64 letters, digits or . _ @ - and start with a letter or digit.",
    ) in found
    assert (4, "姓名", "Required.") in found
    assert (5, "职级", "Unknown rank.") in found and (5, "手机号", "Phone number is not valid.") in found
    assert (6, "登录名", "Duplicate login name in this file.") in found
    assert _count() == before  # nothing half-imported, not even the good first row


def test_units_outside_the_admins_subtree_are_refused(county):
    _, admin = county
    data = (HEADER + "gb9301,外县,TP12U,,,\r\ngb9302,不存在,NOPE,,,\r\n").encode()
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_users(actor=admin, filename="users.csv", data=data)
    assert {e.row for e in rejected.value.errors} == {2, 3}
    assert {e.reason for e in rejected.value.errors} == {"No such unit within your administration."}


def test_login_names_of_other_subtrees_are_not_taken_over(county):
    orgs, admin = county
    make_user(org=orgs["unit12"], login_name="gb9401", name="邻县的人")
    data = (HEADER + "gb9401,冒名,TP11U,,,\r\n").encode()
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_users(actor=admin, filename="users.csv", data=data)
    assert rejected.value.errors[0].reason == "This login name is already in use."
    assert db.session.scalar(select(User.display_name).where(User.login_name == "gb9401")) == "邻县的人"


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("users.csv", b"", "The file is empty."),
        ("users.csv", "姓名,手机号\r\n张三,1\r\n".encode(), "Required column is missing."),
        ("users.csv", HEADER.encode(), "The file has no user rows."),
        ("users.csv", b"\x00\x01\x02binary", "The file is not a text CSV file."),
        (
            "users.csv",
            b"\xff\xfe\xfa\xfb\x81\x30" * 10,
            "The file encoding is not recognised: save it as UTF-8 CSV or .xlsx.",
        ),
        ("users.xlsx", b"%PDF-1.4 not a workbook", "The file is not a valid .xlsx workbook."),
        ("users.xlsx", b"PK\x03\x04truncated", "The file is not a valid .xlsx workbook."),
        ("users.pdf", b"%PDF-1.4", "Upload the .xlsx or .csv template."),
    ],
)
def test_malformed_files_are_rejected_with_a_reason(county, filename, data, reason):
    _, admin = county
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_users(actor=admin, filename=filename, data=data)
    assert rejected.value.errors[0].reason == reason


def test_import_page_shows_the_report_in_chinese_and_imports_nothing(client, county):
    _, admin = county
    login(client, admin)
    before = _count()
    data = (HEADER + "gb9501,好人,TP11U,,,\r\ngb9502,,TP11U,,,\r\n").encode()
    response = client.post(
        "/admin/users/import",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf_token(client, "/admin/users/import"),
            "file": (io.BytesIO(data), "users.csv"),
        },
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "文件未导入" in text and "必填项为空" in text and "<td>3</td>" in text
    assert _count() == before
    ok = client.post(
        "/admin/users/import",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf_token(client, "/admin/users/import"),
            "file": (io.BytesIO((HEADER + "gb9501,好人,TP11U,,,\r\n").encode()), "users.csv"),
        },
    )
    assert ok.status_code == 200 and "导入完成" in ok.get_data(as_text=True) and _count() == before + 1


def test_templates_download_and_round_trip(client, county):
    _, admin = county
    login(client, admin)
    xlsx = client.get("/admin/users/import/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.data.startswith(b"PK")
    rows = importing.parse_file("t.xlsx", xlsx.data)
    assert rows[0].data.login_name == "gb20260001"  # the example row parses
    csv = client.get("/admin/users/import/template.csv")
    assert csv.data.decode("utf-8-sig").startswith("登录名,姓名,所属单位")


def test_edit_page_renders_roles_and_actions(client, county):
    orgs, admin = county
    cadre = make_user(org=orgs["unit11"], name="页面学员")
    login(client, admin)
    page = client.get(f"/admin/users/{cadre.id}")
    assert (
        page.status_code == 200
        and "页面学员" in page.get_data(as_text=True)
        and "重置密码" in page.get_data(as_text=True)
    )
