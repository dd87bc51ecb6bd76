"""The authoring and review pages, through HTTP as a teacher, admins and a cadre: 我的课程建设, 课程审核 and
课程分类 (issue 4)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select

from lms.audit.models import AuditEntry
from lms.catalog.models import Category, Course, CourseRevision, CourseStatus, RevisionStatus
from lms.core.db import db
from lms.discovery.engine import get_search_engine
from lms.media.models import AssetKind, AssetStatus, MediaAsset
from tests.factories import (
    csrf_token,
    login,
    make_admin,
    make_course,
    make_teacher,
    make_user,
    province_tree,
)


@pytest.fixture
def world(app, db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    teacher = make_teacher(org=orgs["unit11"], name="王建国")
    assets = []
    for n, kind in ((1, AssetKind.VIDEO), (2, AssetKind.AUDIO), (3, AssetKind.VIDEO)):
        asset = MediaAsset(
            owner_id=teacher.id,
            org_id=teacher.org_id,
            kind=kind,
            title=f"廉洁从政第{n}讲",
            status=AssetStatus.READY,
            source_key=f"uploads/t/{n}",
            duration_s=600.0 + n,
            playlist_key=f"media/{n}/t/master.m3u8",
            output_prefix=f"media/{n}/t/",
        )
        db.session.add(asset)
        assets.append(asset)
    db.session.flush()
    return {
        "orgs": orgs,
        "teacher": teacher,
        "admin": make_admin(of=orgs["county11"]),
        "other_admin": make_admin(of=orgs["county12"]),
        "cadre": make_user(org=orgs["unit11"]),
        "assets": assets,
        "party": db.session.scalar(select(Category).where(Category.code == "PARTY_SPIRIT")),
    }


def client_for(app, user):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def edit_form(client, course_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The editor's fields as the page fills them (what a browser would post back unchanged)."""
    html = client.get(f"/authoring/courses/{course_id}/edit").get_data(as_text=True)
    data: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="submit"' in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) in ("checkbox", "radio"):
            if "checked" in tag:
                data.setdefault(name.group(1), []).append(unescape(value.group(1)) if value else "y")
            continue
        data[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = unescape(body).lstrip("\n")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(
            r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected', body
        )
        if chosen:
            data[name] = chosen.group(1) or chosen.group(2)
    return data


def create_draft(client, title: str = "廉洁从政专题") -> Course:  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/authoring/new")
    page = client.get("/authoring/new").get_data(as_text=True)
    org_id = re.search(r'<option selected value="(\d+)"|<option value="(\d+)" selected', page)
    assert org_id, "the author's unit is preselected"
    assert 'autocomplete="None"' not in page  # attributes not asked for are left out
    response = client.post(
        "/authoring/new",
        data={
            "csrf_token": token,
            "title": title,
            "org_id": org_id.group(1) or org_id.group(2),
            "kind": "video",
        },
    )
    assert response.status_code == 302, text_of(response)
    course_id = int(re.search(r"/authoring/courses/(\d+)/edit", response.headers["Location"]).group(1))
    return db.session.get(Course, course_id)


def post_action(client, course_id: int, action: str, **data: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/authoring/courses/{course_id}")
    return client.post(f"/authoring/courses/{course_id}/{action}", data={"csrf_token": token} | data)


def review(client, course_id: int, action: str, **data: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/authoring/review/{course_id}")
    return client.post(f"/authoring/review/{course_id}/{action}", data={"csrf_token": token} | data)


def search_titles(client, q: str) -> str:  # type: ignore[no-untyped-def]
    """The catalog page's text, highlights removed."""
    return re.sub(r"</?em>", "", text_of(client.get(f"/courses?q={q}")))


def test_write_submit_send_back_fix_and_publish_then_cadres_find_it(app, world):
    teacher = client_for(app, world["teacher"])
    assert "我的课程建设" in text_of(teacher.get("/"))
    course = create_draft(teacher)
    assert course.status == CourseStatus.DRAFT

    data = edit_form(teacher, course.id)
    video, audio, _ = world["assets"]
    data |= {
        "summary_html": "本课程讲授廉洁从政的基本要求。\n第二段：案例分析 & 讨论",
        "category_id": str(world["party"].id),
        "tags": "廉洁，党风廉政、纪律",
        "hours": "1.5",
        "add_assets": [str(audio.id), str(video.id)],
        "visibility_paths": [world["orgs"]["unit11"].path],
    }
    saved = teacher.post(f"/authoring/courses/{course.id}/edit", data=data)
    assert saved.status_code == 302, text_of(saved)
    db.session.expire_all()
    revision = db.session.get(Course, course.id).working_revision
    assert [lesson["media_asset_id"] for lesson in revision.lessons] == [audio.id, video.id]
    assert revision.summary_html == "<p>本课程讲授廉洁从政的基本要求。</p><p>第二段：案例分析 &amp; 讨论</p>"
    assert revision.tags == ["廉洁", "党风廉政", "纪律"] and str(revision.hours) == "1.50"

    # Reorder with the order numbers (the page's baseline without JavaScript), then submit.
    data = edit_form(teacher, course.id)
    data |= {"lessons-0-position": "2", "lessons-1-position": "1", "lessons-1-title": "第一讲 廉洁从政"}
    assert teacher.post(f"/authoring/courses/{course.id}/edit", data=data).status_code == 302
    assert post_action(teacher, course.id, "submit").status_code == 302
    db.session.expire_all()
    revision = db.session.get(Course, course.id).working_revision
    assert [lesson["title"] for lesson in revision.lessons] == ["第一讲 廉洁从政", audio.title]
    assert revision.lessons[0]["media_asset_id"] == video.id
    assert revision.status == RevisionStatus.SUBMITTED
    assert "待审核" in text_of(teacher.get("/authoring/?state=in_review"))

    admin = client_for(app, world["admin"])
    assert f'data-course="{course.id}"' in admin.get("/authoring/review").get_data(as_text=True)
    page = text_of(admin.get(f"/authoring/review/{course.id}"))
    assert "廉洁从政专题" in page and "第一讲 廉洁从政" in page and "王建国" in page
    refused = review(admin, course.id, "reject", reason="  ")
    assert refused.status_code == 422 and "请填写退回理由" in text_of(refused)
    assert review(admin, course.id, "reject", reason="请补充课程简介中的案例来源").status_code == 302

    listing = text_of(teacher.get("/authoring/"))
    assert "已退回" in listing and "请补充课程简介中的案例来源" in listing
    assert "请补充课程简介中的案例来源" in text_of(teacher.get(f"/authoring/courses/{course.id}"))
    data = edit_form(teacher, course.id) | {"title": "廉洁从政专题（修订）"}
    assert teacher.post(f"/authoring/courses/{course.id}/edit", data=data).status_code == 302
    assert post_action(teacher, course.id, "submit").status_code == 302

    assert review(admin, course.id, "approve", comment="同意发布").status_code == 302
    db.session.expire_all()
    published = db.session.get(Course, course.id)
    assert published.status == CourseStatus.PUBLISHED
    assert published.published_revision.title == "廉洁从政专题（修订）"
    actions = db.session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.target_type == "course", AuditEntry.target_id == str(course.id)
        )
    ).all()
    assert {"course.create", "course.edit", "course.submit", "course.reject", "course.approve"} <= set(
        actions
    )

    cadre = client_for(app, world["cadre"])
    assert "廉洁从政专题（修订）" in search_titles(cadre, "廉洁从政")
    assert "廉洁从政专题（修订）" in text_of(cadre.get(f"/courses/{course.id}"))
    neighbour = client_for(app, make_user(org=world["orgs"]["unit12"]))
    assert "廉洁从政专题" not in search_titles(neighbour, "廉洁从政")


def test_a_new_revision_changes_nothing_learners_see_until_it_is_approved(app, world):
    course = make_course(teacher=world["teacher"], publish_by=world["admin"], title="党史学习教育专题")
    db.session.commit()
    teacher = client_for(app, world["teacher"])
    assert "新修订" in text_of(teacher.get(f"/authoring/courses/{course.id}/edit"))
    data = edit_form(teacher, course.id) | {"title": "党史学习教育专题（第二版）"}
    assert teacher.post(f"/authoring/courses/{course.id}/edit", data=data).status_code == 302
    assert post_action(teacher, course.id, "submit").status_code == 302

    cadre = client_for(app, world["cadre"])
    seen = text_of(cadre.get(f"/courses/{course.id}"))
    assert "党史学习教育专题" in seen and "第二版" not in seen
    assert "第二版" not in search_titles(cadre, "党史")

    admin = client_for(app, world["admin"])
    diff = admin.get(f"/authoring/review/{course.id}").get_data(as_text=True)
    assert "<ins>（第二版）</ins>" in diff or "<ins>党史学习教育专题（第二版）</ins>" in diff
    assert review(admin, course.id, "approve").status_code == 302
    assert "第二版" in text_of(cadre.get(f"/courses/{course.id}"))
    assert "党史学习教育专题（第二版）" in search_titles(cadre, "党史")


def test_an_admin_of_another_county_and_a_cadre_cannot_see_or_act(app, world):
    course = make_course(teacher=world["teacher"], title="县级专题")
    from lms.catalog import services

    services.submit_for_review(actor=world["teacher"], course=course)
    db.session.commit()
    outsider = client_for(app, world["other_admin"])
    assert f'data-course="{course.id}"' not in outsider.get("/authoring/review").get_data(as_text=True)
    assert f'data-course="{course.id}"' not in outsider.get("/authoring/").get_data(as_text=True)
    for path in (
        f"/authoring/courses/{course.id}",
        f"/authoring/courses/{course.id}/edit",
        f"/authoring/review/{course.id}",
    ):
        assert outsider.get(path).status_code == 404
    token = csrf_token(outsider, "/authoring/review")
    for action in ("approve", "reject"):
        answer = outsider.post(
            f"/authoring/review/{course.id}/{action}", data={"csrf_token": token, "reason": "x"}
        )
        assert answer.status_code == 404
    assert (
        outsider.post(f"/authoring/courses/{course.id}/archive", data={"csrf_token": token}).status_code
        == 404
    )

    teacher = client_for(app, world["teacher"])
    assert teacher.get(f"/authoring/review/{course.id}").status_code == 403  # not an admin
    cadre = client_for(app, world["cadre"])
    for path in ("/authoring/", "/authoring/new", "/authoring/review", "/authoring/categories"):
        assert cadre.get(path).status_code == 403
    assert "我的课程建设" not in text_of(cadre.get("/"))
    db.session.expire_all()
    assert db.session.get(Course, course.id).working_revision.status == RevisionStatus.SUBMITTED


def test_bad_input_is_reported_in_chinese_next_to_the_fields_and_nothing_is_saved(app, world):
    teacher = client_for(app, world["teacher"])
    token = csrf_token(teacher, "/authoring/new")
    refused = teacher.post(
        "/authoring/new", data={"csrf_token": token, "title": " ", "org_id": "0", "kind": "film"}
    )
    assert refused.status_code == 422
    assert "请填写课程标题" in text_of(refused) and "不是有效的选择" in text_of(refused)
    assert db.session.scalar(select(func.count(Course.id))) == 0

    course = create_draft(teacher)
    entries_before = db.session.scalar(select(func.count(AuditEntry.id)))
    data = edit_form(teacher, course.id) | {
        "visibility_paths": [world["orgs"]["county12"].path],  # another county: not offered, tampered
        "add_assets": [str(world["assets"][0].id)],
    }
    refused = teacher.post(f"/authoring/courses/{course.id}/edit", data=data)
    assert refused.status_code == 422 and "课程只能向本单位及其下级单位开放" in text_of(refused)
    data |= {
        "title": "",
        "hours": "很多",
        "minutes_per_hour": "5",
        "tags": "、".join(f"标签{i}" for i in range(13)),
        "visibility_paths": [world["orgs"]["unit11"].path],
    }
    refused = teacher.post(f"/authoring/courses/{course.id}/edit", data=data)
    page = text_of(refused)
    assert refused.status_code == 422
    for message in (
        "请填写课程标题",
        "学时须为大于 0、不超过 200 的数字",
        "每学时对应的分钟数须在 10 到 120 之间",
        "标签最多 12 个",
    ):
        assert message in page, message
    assert re.search(r'has-error">\s*<span>课程名称', refused.get_data(as_text=True))
    db.session.expire_all()
    revision = db.session.get(Course, course.id).working_revision
    assert revision.title == "廉洁从政专题" and revision.lessons == [] and revision.tags == []
    assert db.session.scalar(select(func.count(AuditEntry.id))) == entries_before


def test_forms_without_the_csrf_token_are_refused(app, world):
    teacher = client_for(app, world["teacher"])
    course = create_draft(teacher)
    assert (
        teacher.post("/authoring/new", data={"title": "无令牌", "org_id": "1", "kind": "video"}).status_code
        == 400
    )
    refused = teacher.post(f"/authoring/courses/{course.id}/submit")
    assert refused.status_code == 400 and "页面已过期" in text_of(refused)
    data = edit_form(teacher, course.id) | {"title": "改名"}
    del data["csrf_token"]
    assert teacher.post(f"/authoring/courses/{course.id}/edit", data=data).status_code == 400
    db.session.expire_all()
    found = db.session.get(Course, course.id)
    assert found.status == CourseStatus.DRAFT and found.working_revision.title == "廉洁从政专题"


def test_a_never_published_draft_can_be_deleted_and_never_reaches_search(app, world):
    teacher = client_for(app, world["teacher"])
    course = create_draft(teacher, title="待删除的廉洁草稿")
    course_id = course.id
    published = make_course(teacher=world["teacher"], publish_by=world["admin"], title="已发布的廉洁课程")
    db.session.commit()
    assert "删除草稿" in text_of(teacher.get(f"/authoring/courses/{course_id}"))
    assert "删除草稿" not in text_of(teacher.get(f"/authoring/courses/{published.id}"))

    assert post_action(teacher, course_id, "delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Course, course_id) is None
    assert db.session.scalar(select(func.count()).where(CourseRevision.course_id == course_id)) == 0
    assert teacher.get(f"/authoring/courses/{course_id}").status_code == 404
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "course.delete"))
    assert entry is not None and entry.target_label == "待删除的廉洁草稿"
    refused = post_action(teacher, published.id, "delete")
    assert refused.status_code == 302 and db.session.get(Course, published.id) is not None
    cadre = client_for(app, world["cadre"])
    assert "已发布的廉洁课程" in search_titles(cadre, "廉洁")
    assert "待删除" not in search_titles(cadre, "廉洁")
    assert get_search_engine().count() == 1  # only the published course was ever indexed


def test_admins_add_rename_and_retire_subcategories_of_their_units(app, world):
    admin = client_for(app, world["admin"])
    page = admin.get("/authoring/categories").get_data(as_text=True)
    assert "党性教育" in page and "理论教育" in page
    token = csrf_token(admin, "/authoring/categories")
    county = world["orgs"]["county11"]
    added = admin.post(
        "/authoring/categories",
        data={"csrf_token": token, "parent_id": world["party"].id, "org_id": county.id, "name": "廉政教育"},
    )
    assert added.status_code == 302
    sub = db.session.scalar(select(Category).where(Category.name == "廉政教育"))
    assert sub.parent_id == world["party"].id and sub.org_id == county.id
    again = admin.post(
        "/authoring/categories",
        data={"csrf_token": token, "parent_id": world["party"].id, "org_id": county.id, "name": "廉政教育"},
    )
    assert again.status_code == 422 and "该分类下已有同名子分类" in text_of(again)

    # A teacher of the county sees it in the editor; a course of the other county does not get it.
    teacher = client_for(app, world["teacher"])
    course = create_draft(teacher)
    assert "党性教育 · 廉政教育" in text_of(teacher.get(f"/authoring/courses/{course.id}/edit"))
    data = edit_form(teacher, course.id) | {"category_id": str(sub.id)}
    assert teacher.post(f"/authoring/courses/{course.id}/edit", data=data).status_code == 302
    elsewhere = make_course(teacher=make_teacher(org=world["orgs"]["unit12"]), title="邻县课程")
    from lms.catalog import services
    from lms.catalog.validation import clean_course_data
    from lms.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.edit_course(
            actor=world["other_admin"],
            course=elsewhere,
            data=clean_course_data({"title": "邻县课程", "category_id": sub.id}),
        )

    outsider = client_for(app, world["other_admin"])
    token_out = csrf_token(outsider, "/authoring/categories")
    assert "廉政教育" not in outsider.get("/authoring/categories").get_data(as_text=True)
    assert (
        outsider.post(
            f"/authoring/categories/{sub.id}/rename", data={"csrf_token": token_out, "name": "改"}
        ).status_code
        == 404
    )
    assert (
        outsider.post(f"/authoring/categories/{sub.id}/retire", data={"csrf_token": token_out}).status_code
        == 404
    )

    assert (
        admin.post(
            f"/authoring/categories/{sub.id}/rename", data={"csrf_token": token, "name": "廉洁教育"}
        ).status_code
        == 302
    )
    assert admin.post(f"/authoring/categories/{sub.id}/retire", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Category, sub.id).name == "廉洁教育" and db.session.get(Category, sub.id).is_retired
    # Retired: the course keeps it, a new course is not offered it.
    assert "党性教育 · 廉洁教育" in text_of(teacher.get(f"/authoring/courses/{course.id}/edit"))
    other = create_draft(teacher, title="新课程")
    assert "廉洁教育" not in text_of(teacher.get(f"/authoring/courses/{other.id}/edit"))
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "category")).all()
    assert sorted(actions) == ["category.create", "category.rename", "category.retire"]


def test_the_navigation_groups_admin_links_and_shows_authoring_to_teachers_only(app, world):
    admin_page = admin_nav = client_for(app, world["admin"]).get("/").get_data(as_text=True)
    assert "<details" in admin_nav and "课程审核" in admin_page and "课程分类" in admin_page
    teacher_page = text_of(client_for(app, world["teacher"]).get("/"))
    assert "我的课程建设" in teacher_page and "课程审核" not in teacher_page


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def add_material(client, course_id: int, **fields: Any):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/authoring/courses/{course_id}")
    return client.post(
        f"/authoring/courses/{course_id}/materials",
        data={"csrf_token": token, "title": "", "text_html": ""} | fields,
        content_type="multipart/form-data",
    )


def test_text_and_pdf_material_go_through_review_and_reach_only_learners_who_may_see_the_course(app, world):
    import io

    from lms.catalog.models import CourseMaterial, Lesson
    from lms.media.storage import get_storage

    course = make_course(teacher=world["teacher"], title="廉洁文化建设")
    db.session.commit()
    teacher = client_for(app, world["teacher"])
    refused = add_material(teacher, course.id, title="", pdf=(io.BytesIO(PNG), "讲义.pdf"))
    page = text_of(refused)
    assert refused.status_code == 422 and "请填写材料标题" in page and "不是 PDF 文件" in page
    both = add_material(teacher, course.id, title="讲义", text_html="正文", pdf=(io.BytesIO(PDF), "讲义.pdf"))
    assert both.status_code == 422 and "正文和 PDF 只能二选一" in text_of(both)
    assert add_material(teacher, course.id, title="讲义").status_code == 422
    assert db.session.scalar(select(func.count(CourseMaterial.id))) == 0

    done = add_material(
        teacher,
        course.id,
        title="阅读：廉洁自律准则",
        text_html="第一条 坚持公私分明。\n第二条 <b>崇廉拒腐</b>",
    )
    assert done.status_code == 302
    done = add_material(teacher, course.id, title="讲义（PDF）", pdf=(io.BytesIO(PDF), "廉洁 讲义.pdf"))
    assert done.status_code == 302, text_of(done)
    db.session.expire_all()
    lessons = db.session.get(Course, course.id).working_revision.lessons
    assert [lesson["title"] for lesson in lessons] == ["第一讲", "阅读：廉洁自律准则", "讲义（PDF）"]
    text_id, pdf_id = lessons[1]["material_id"], lessons[2]["material_id"]
    text_material, pdf_material = (
        db.session.get(CourseMaterial, text_id),
        db.session.get(CourseMaterial, pdf_id),
    )
    assert text_material.text_html == "<p>第一条 坚持公私分明。</p><p>第二条 <b>崇廉拒腐</b></p>"
    assert pdf_material.filename == "廉洁_讲义.pdf" and get_storage().read(pdf_material.object_key) == PDF

    # The reviewer opens the material; an admin of another county cannot.
    assert post_action(teacher, course.id, "submit").status_code == 302
    admin = client_for(app, world["admin"])
    assert "崇廉拒腐" in text_of(admin.get(f"/authoring/courses/{course.id}/materials/{text_id}"))
    assert admin.get(f"/authoring/courses/{course.id}/materials/{pdf_id}/file").data == PDF
    outsider = client_for(app, world["other_admin"])
    assert outsider.get(f"/authoring/courses/{course.id}/materials/{pdf_id}/file").status_code == 404
    assert review(admin, course.id, "approve").status_code == 302

    row = db.session.scalar(select(Lesson).where(Lesson.material_id == pdf_id))
    text_row = db.session.scalar(select(Lesson).where(Lesson.material_id == text_id))
    cadre = client_for(app, world["cadre"])
    course_page = cadre.get(f"/courses/{course.id}").get_data(as_text=True)
    assert f"/reading/lessons/{row.id}" in course_page and f"/reading/lessons/{text_row.id}" in course_page
    assert "崇廉拒腐" in text_of(cadre.get(f"/reading/lessons/{text_row.id}"))
    pdf = cadre.get(f"/reading/lessons/{row.id}/file")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data == PDF
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    neighbour = client_for(app, make_user(org=world["orgs"]["unit12"]))
    assert neighbour.get(f"/reading/lessons/{text_row.id}").status_code == 404
    assert neighbour.get(f"/reading/lessons/{row.id}/file").status_code == 404


def test_deleting_a_draft_removes_its_pdf_material(app, world):
    import io

    from lms.catalog.models import CourseMaterial
    from lms.media.storage import get_storage

    teacher = client_for(app, world["teacher"])
    course = create_draft(teacher, title="草稿带讲义")
    assert add_material(teacher, course.id, title="讲义", pdf=(io.BytesIO(PDF), "a.pdf")).status_code == 302
    material = db.session.scalars(select(CourseMaterial)).one()
    key = material.object_key
    assert get_storage().exists(key)
    assert post_action(teacher, course.id, "delete").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count(CourseMaterial.id))) == 0 and not get_storage().exists(key)


def test_a_teacher_lists_the_courses_they_teach_and_no_others(app, world):
    from lms.catalog import services
    from lms.catalog.validation import clean_course_data

    colleague = make_teacher(org=world["orgs"]["unit11"], name="李明")
    listed = make_course(teacher=world["admin"], title="管理员建的课", org=world["orgs"]["county11"])
    data = services.course_data_of(listed.working_revision).__dict__ | {"teacher_ids": [world["teacher"].id]}
    services.edit_course(actor=world["admin"], course=listed, data=clean_course_data(data))
    make_course(teacher=colleague, title="同事的课")
    make_course(teacher=make_teacher(org=world["orgs"]["unit11"]), title=f"编号{world['teacher'].id}1的课")
    db.session.commit()
    page = text_of(client_for(app, world["teacher"]).get("/authoring/"))
    assert "管理员建的课" in page and "同事的课" not in page and "的课" in page
    assert page.count('data-course="') == 1
    assert "同事的课" in text_of(client_for(app, world["admin"]).get("/authoring/?q=同事"))


def test_the_review_diff_names_added_removed_moved_and_changed_lessons(world):
    from lms.catalog.authoring import revision_diff
    from lms.catalog.models import CourseRevision

    def revision(lessons, **fields):  # type: ignore[no-untyped-def]
        return CourseRevision(
            title=fields.get("title", "课"),
            summary_html=fields.get("summary", "<p>甲乙丙</p>"),
            tags=[],
            kind="video",
            hours=1,
            credit_rule="fixed",
            minutes_per_hour=45,
            use="elective",
            no_seek_ahead=False,
            visibility_paths=[],
            teacher_ids=[],
            lecturers=[],
            lessons=[{"key": k, "title": t} for k, t in lessons],
        )

    old = revision([("a" * 8, "一"), ("b" * 8, "二"), ("c" * 8, "三"), ("d" * 8, "四")])
    new = revision(
        [("b" * 8, "二"), ("a" * 8, "一"), ("c" * 8, "叁"), ("e" * 8, "五")], summary="<p>甲丙丁</p>"
    )
    diff = revision_diff(old, new)
    changes = [(x.title, x.change) for x in diff.lessons]
    assert changes[2:] == [("叁", "changed"), ("五", "added"), ("四", "removed")]
    assert sorted(change for _, change in changes[:2]) == ["moved", "same"]  # one of the swapped pair moved
    assert diff.summary_changed and ("del", "乙") in diff.summary and ("ins", "丁") in diff.summary
    assert [f.label for f in diff.fields if f.changed] == []


def test_a_draft_a_test_still_refers_to_is_not_deleted(app, world):
    from lms.exams.models import Exam

    teacher = client_for(app, world["teacher"])
    course = create_draft(teacher, title="带测验的草稿")
    db.session.add(
        Exam(title="随堂测验", org_id=course.org_id, owner_id=world["teacher"].id, course_id=course.id)
    )
    db.session.commit()
    answer = post_action(teacher, course.id, "delete")
    assert answer.status_code == 302
    assert "还有其他内容（例如测验）关联这门课程" in text_of(teacher.get(answer.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(Course, course.id).working_revision.title == "带测验的草稿"
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "course.delete")) == 0
