"""Course import: CSV/XLSX/JSONL, all or nothing with a per-row report, re-import updates by code."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from lms.audit.models import AuditEntry
from lms.catalog import importing, queries, services
from lms.catalog.models import Course, CourseKind, CourseStatus
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.core.errors import PermissionDenied
from tests.factories import make_admin, make_teacher, make_user, province_tree

HEADER = "课程编号,课程名称,简介,分类,标签,主讲人,类型,学时,时长\r\n"
ROWS = (
    "V-001,新时代党性教育专题,加强党性修养,党性教育,党性修养、理想信念,中央党校（国家行政学院）教授,视频课程,1,45\r\n"
    "V-002,乡村振兴政策解读,,专业化能力,乡村振兴|三农,张教授;李研究员,微课,,0:12:30\r\n"
)


def _count() -> int:
    return db.session.scalar(select(func.count(Course.id))) or 0


def _course(code: str) -> Course:
    course = db.session.scalar(select(Course).where(Course.code == code))
    assert course is not None
    return course


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["课程编号", "课程名称", "简介", "分类", "标签", "主讲人", "类型", "学时", "时长"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def county(db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    return orgs, make_admin(of=orgs["county11"])


def test_csv_import_publishes_courses_visible_to_the_org_subtree(county):
    orgs, admin = county
    result = importing.import_courses(
        actor=admin, org=orgs["county11"], filename="课程.csv", data=(HEADER + ROWS).encode("utf-8-sig")
    )
    assert (len(result.created), len(result.updated), result.unchanged) == (2, 0, 0)
    first = _course("V-001")
    revision = first.published_revision
    assert first.status == CourseStatus.PUBLISHED and first.org_id == orgs["county11"].id
    assert revision.title == "新时代党性教育专题" and revision.summary_html == "<p>加强党性修养</p>"
    assert revision.category.name == "党性教育" and revision.tags == ["党性修养", "理想信念"]
    assert revision.lecturers == ["中央党校（国家行政学院）教授"] and revision.teacher_ids == []
    assert revision.lessons[0]["title"] == "新时代党性教育专题" and revision.duration_s == 45 * 60
    assert revision.visibility_paths == [orgs["county11"].path]
    micro = _course("V-002").published_revision
    assert micro.kind == CourseKind.MICRO and micro.duration_s == 750 and micro.hours == Decimal("0.25")
    assert micro.lecturers == ["张教授", "李研究员"] and micro.tags == ["乡村振兴", "三农"]
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(first.id))))
    assert {"course.create", "course.submit", "course.approve"} <= actions
    learner = make_user(org=orgs["unit11"])
    assert queries.search_published(learner, text="党性教育", page=1, per_page=10).total == 1
    outsider = make_user(org=orgs["unit12"])
    assert queries.search_published(outsider, text="党性教育", page=1, per_page=10).total == 0


def test_reimport_does_not_duplicate_and_a_changed_row_updates(county):
    orgs, admin = county
    data = (HEADER + ROWS).encode()
    importing.import_courses(actor=admin, org=orgs["county11"], filename="a.csv", data=data)
    before, lesson_key = _count(), _course("V-001").published_revision.lessons[0]["key"]
    again = importing.import_courses(actor=admin, org=orgs["county11"], filename="a.csv", data=data)
    assert (len(again.created), len(again.updated), again.unchanged) == (0, 0, 2) and _count() == before
    changed = (HEADER + ROWS.replace("新时代党性教育专题", "新时代党性教育专题（2026 版）")).encode()
    third = importing.import_courses(actor=admin, org=orgs["county11"], filename="a.csv", data=changed)
    assert (len(third.created), len(third.updated), third.unchanged) == (0, 1, 1) and _count() == before
    course = _course("V-001")
    assert course.published_revision.title == "新时代党性教育专题（2026 版）"
    assert course.published_revision.number == 2 and course.working_revision is None
    assert course.published_revision.lessons[0]["key"] == lesson_key  # learners keep their progress


def test_gb18030_csv_xlsx_and_jsonl_are_read(county):
    orgs, admin = county
    org = orgs["county11"]
    gbk = (HEADER + "G-1,统计法治讲座,,知识培训,,,视频课程,1,60\r\n").encode("gb18030")
    assert len(importing.import_courses(actor=admin, org=org, filename="g.csv", data=gbk).created) == 1
    xlsx = _xlsx([["X-1", "应急管理案例", "简介", "专业化能力", "应急", "", "音频课程", 0.5, 25]])
    assert len(importing.import_courses(actor=admin, org=org, filename="x.xlsx", data=xlsx).created) == 1
    audio = _course("X-1").published_revision
    assert audio.kind == CourseKind.AUDIO and audio.hours == Decimal("0.5") and audio.duration_s == 1500
    lines = [
        {
            "code": "J-1",
            "title": "数字政府建设",
            "category": "专业化能力",
            "tags": ["数字政府", "政务"],
            "kind": "video",
            "duration": "1:05:00",
        },
        {"课程编号": "J-2", "课程名称": "公文写作要领", "时长": 20},
    ]
    jsonl = ("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n").encode()
    assert len(importing.import_courses(actor=admin, org=org, filename="j.jsonl", data=jsonl).created) == 2
    digital = _course("J-1").published_revision
    assert digital.tags == ["数字政府", "政务"] and digital.duration_s == 3900 and digital.hours == 1
    assert _course("J-2").published_revision.hours == Decimal("0.5")  # 20 minutes (Yunnan tiers)


def test_bad_rows_reject_the_whole_file_with_row_column_reason(county):
    orgs, admin = county
    neighbour = make_admin(of=orgs["county12"])
    services.create_course(
        actor=neighbour, org=orgs["county12"], data=clean_course_data({"title": "邻县课程"}), code="OTHER-1"
    )
    before = _count()
    data = (
        HEADER
        + "OK-1,好课程,,,,,,,30\r\n"
        + ",没有编号,,,,,,,\r\n"
        + "B-3,未知分类,,不存在的分类,,,,,\r\n"
        + "B-4,学时不对,,,,,,abc,\r\n"
        + "OK-1,重复编号,,,,,,,\r\n"
        + "OTHER-1,别人的课程,,,,,,,\r\n"
        + "B-7,类型不对,,,,,电影,,1:99:00\r\n"
    ).encode()
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_courses(actor=admin, org=orgs["county11"], filename="bad.csv", data=data)
    found = {(e.row, e.column, e.reason) for e in rejected.value.errors}
    assert (3, "课程编号", "Required.") in found
    assert (4, "分类", "No such category.") in found
    assert (5, "学时", "Learning hours must be a number above 0 and at most 200.") in found
    assert (6, "课程编号", "Duplicate course code in this file.") in found
    assert (7, "课程编号", "This course code belongs to a course of another unit.") in found
    assert (8, "类型", "Course type must be 视频课程, 微课 or 音频课程.") in found
    assert (8, "时长", "Duration must be minutes (e.g. 45) or H:MM:SS, under 24 hours.") in found
    assert not any(e.row == 2 for e in rejected.value.errors)
    assert _count() == before  # not even the good first row


def test_a_bad_json_line_rejects_the_file(county):
    orgs, admin = county
    data = '{"code": "J-1", "title": "好"}\n{"code": "J-2", "title": \n["not", "an object"]\n'.encode()
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_courses(actor=admin, org=orgs["county11"], filename="c.jsonl", data=data)
    assert [(e.row, e.reason) for e in rejected.value.errors] == [
        (2, "This line is not a valid JSON object."),
        (3, "This line is not a valid JSON object."),
    ]
    assert _count() == 0


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("c.csv", b"", "The file is empty."),
        ("c.csv", "课程名称\r\n好\r\n".encode(), "Required column is missing."),
        ("c.csv", HEADER.encode(), "The file has no course rows."),
        ("c.pdf", b"%PDF", "Upload a .csv, .xlsx or .jsonl course list."),
    ],
)
def test_malformed_files_are_rejected(county, filename, data, reason):
    orgs, admin = county
    with pytest.raises(importing.ImportRejected) as rejected:
        importing.import_courses(actor=admin, org=orgs["county11"], filename=filename, data=data)
    assert rejected.value.errors[0].reason == reason


def test_only_an_admin_of_the_target_org_may_import(county):
    orgs, admin = county
    data = (HEADER + ROWS).encode()
    for actor, org in (
        (make_user(org=orgs["unit11"]), orgs["county11"]),
        (make_teacher(org=orgs["unit11"]), orgs["county11"]),
        (admin, orgs["county12"]),
    ):
        with pytest.raises(PermissionDenied):
            importing.import_courses(actor=actor, org=org, filename="a.csv", data=data)


def test_cli_imports_and_reports_in_chinese(app, county, tmp_path):
    orgs, admin = county
    path = tmp_path / "课程.csv"
    path.write_bytes((HEADER + ROWS).encode())
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["catalog", "import", str(path), "--as", admin.login_name])
    assert ok.exit_code == 0, ok.output
    assert "新建 2 门，更新 0 门，未变 0 门" in ok.output and orgs["county11"].name in ok.output
    again = runner.invoke(args=["catalog", "import", str(path), "--as", admin.login_name, "--org", "TP11"])
    assert again.exit_code == 0 and "新建 0 门，更新 0 门，未变 2 门" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + "N-1,,,,,,,abc,\r\n").encode())
    rejected = runner.invoke(args=["catalog", "import", str(bad), "--as", admin.login_name])
    assert rejected.exit_code == 1 and "Traceback" not in rejected.output
    assert "文件未导入" in rejected.output or "未导入" in rejected.output
    assert "第 2 行「课程名称」：请填写课程标题。" in rejected.output
    assert "第 2 行「学时」：学时须为大于 0、不超过 200 的数字。" in rejected.output
    learner = make_user(org=orgs["unit11"])
    refused = runner.invoke(args=["catalog", "import", str(path), "--as", learner.login_name])
    assert refused.exit_code == 1 and "没有权限" in refused.output
    nobody = runner.invoke(args=["catalog", "import", str(path), "--as", "nobody"])
    assert nobody.exit_code == 1 and "没有登录名为 nobody 的账号" in nobody.output
    elsewhere = runner.invoke(
        args=["catalog", "import", str(path), "--as", admin.login_name, "--org", "NOPE"]
    )
    assert elsewhere.exit_code == 1 and "没有编码为 NOPE 的单位" in elsewhere.output
