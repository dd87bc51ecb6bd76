"""Courses: authoring, review, revisions, visibility and search sync, through services and the API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lms.catalog import services
from lms.catalog.errors import NotEditable, NotInReview, ReasonRequired
from lms.catalog.models import CourseStatus, RevisionStatus
from lms.catalog.validation import clean_course_data
from lms.core.db import db
from lms.core.errors import PermissionDenied, ValidationFailed
from lms.discovery.engine import get_search_engine
from lms.discovery.models import SearchOutbox
from tests.factories import (
    bearer,
    make_admin,
    make_course,
    make_teacher,
    make_user,
    mark_studied,
    province_tree,
)


@pytest.fixture
def tree(db_session):  # type: ignore[no-untyped-def]
    orgs = province_tree()
    return orgs, make_admin(of=orgs["county11"]), make_teacher(org=orgs["unit11"], name="王建国")


def test_draft_review_publish_and_revision_keep_the_published_version_live(tree):
    _, admin, teacher = tree
    course = make_course(teacher=teacher, title="新时代党性教育")
    assert course.status == CourseStatus.DRAFT and course.published_revision is None
    services.submit_for_review(actor=teacher, course=course)
    assert course.status == CourseStatus.IN_REVIEW
    with pytest.raises(NotEditable):
        services.edit_course(actor=teacher, course=course, data=clean_course_data({"title": "改"}))
    with pytest.raises(ReasonRequired):
        services.reject(actor=admin, course=course, reason="  ")
    services.reject(actor=admin, course=course, reason="请补充课程简介")
    assert course.status == CourseStatus.DRAFT and course.working_revision.status == RevisionStatus.REJECTED
    revised = services.course_data_of(course.working_revision).__dict__ | {"title": "新时代党性教育（修订）"}
    services.edit_course(actor=teacher, course=course, data=clean_course_data(revised))
    services.submit_for_review(actor=teacher, course=course)
    services.approve(actor=admin, course=course)
    assert (
        course.status == CourseStatus.PUBLISHED
        and course.published_revision.title == "新时代党性教育（修订）"
    )
    lesson_key = course.published_revision.lessons[0]["key"]
    # Editing a published course opens revision 2; learners still see revision 1 until it is approved.
    data = services.course_data_of(course.published_revision).__dict__ | {"title": "第二版"}
    revision = services.edit_course(actor=teacher, course=course, data=clean_course_data(data))
    assert revision.number == 2 and course.published_revision.title == "新时代党性教育（修订）"
    assert revision.lessons[0]["key"] == lesson_key  # lessons keep their identity (progress survives)
    services.submit_for_review(actor=teacher, course=course)
    services.approve(actor=admin, course=course)
    assert course.published_revision.title == "第二版" and course.status == CourseStatus.PUBLISHED
    with pytest.raises(NotInReview):
        services.approve(actor=admin, course=course)


def test_only_admins_of_the_owning_org_review_and_learners_cannot_author(tree):
    orgs, _, teacher = tree
    course = make_course(teacher=teacher)
    services.submit_for_review(actor=teacher, course=course)
    for outsider in (make_admin(of=orgs["county12"]), teacher, make_user(org=orgs["unit11"])):
        with pytest.raises(PermissionDenied):
            services.approve(actor=outsider, course=course)
    with pytest.raises(PermissionDenied):
        make_course(teacher=make_user(org=orgs["unit11"]))


def test_bad_course_fields_are_reported_together_and_summary_is_sanitized():
    with pytest.raises(ValidationFailed) as failed:
        clean_course_data(
            {"title": "", "hours": "-1", "kind": "film", "tags": ["x" * 40], "lessons": [{"title": ""}]}
        )
    assert set(failed.value.fields) == {"title", "hours", "kind", "tags", "lessons"}
    data = clean_course_data(
        {
            "title": "课",
            "summary_html": '<p onclick="x()">好<script>alert(1)</script><a href="javascript:x()">链</a></p>',
        }
    )
    assert "script" not in data.summary_html and "onclick" not in data.summary_html
    assert "javascript" not in data.summary_html and "<p>好" in data.summary_html


def test_publishing_and_archiving_queue_search_changes_in_the_same_transaction(tree):
    _, admin, teacher = tree
    course = make_course(teacher=teacher, publish_by=admin)
    queued = db.session.scalars(select(SearchOutbox.course_id)).all()
    assert queued == [course.id]
    services.archive(actor=admin, course=course)
    assert db.session.scalar(select(func.count(SearchOutbox.id))) == 2


def test_archiving_withdraws_a_revision_in_review_so_approving_cannot_republish(tree):
    _, admin, teacher = tree
    course = make_course(teacher=teacher, publish_by=admin, title="旧版课程")
    data = services.course_data_of(course.published_revision).__dict__ | {"title": "待审的新版"}
    services.edit_course(actor=teacher, course=course, data=clean_course_data(data))
    services.submit_for_review(actor=teacher, course=course)
    services.archive(actor=admin, course=course)
    assert course.working_revision.status == RevisionStatus.DRAFT
    with pytest.raises(NotInReview):
        services.approve(actor=admin, course=course)
    assert course.status == CourseStatus.ARCHIVED and course.published_revision.title == "旧版课程"


def test_search_api_finds_published_courses_the_learner_may_see(client, tree):
    orgs, admin, teacher = tree
    county_only = make_course(teacher=teacher, publish_by=admin, title="县级党性教育课", tags=["党性教育"])
    make_course(teacher=teacher, publish_by=admin, title="县级党性修养课", visibility=[orgs["unit11"].path])
    make_course(teacher=teacher, title="未发布的党性教育草稿")
    db.session.commit()  # after commit, the search sync runs (eagerly in tests)
    # The after-commit sync runs eagerly in tests: the index now has the published ones.
    mine = make_user(org=orgs["unit11"])
    neighbour = make_user(org=orgs["unit12"])
    found = client.get("/api/v1/courses?q=党性教育", headers=bearer(mine)).get_json()
    assert found["hits"][0]["id"] == county_only.id
    assert all("草稿" not in hit["title"] for hit in found["hits"])
    assert found["degraded"] is False and "category" in found["facets"]
    assert client.get("/api/v1/courses?q=党性", headers=bearer(neighbour)).get_json()["total"] == 0
    assert client.get(f"/api/v1/courses/{county_only.id}", headers=bearer(neighbour)).status_code == 404
    assert client.get(f"/api/v1/courses/{county_only.id}", headers=bearer(mine)).status_code == 200


def test_archived_courses_leave_search(client, tree):
    orgs, admin, teacher = tree
    course = make_course(teacher=teacher, publish_by=admin, title="即将归档的课程")
    db.session.commit()
    learner = make_user(org=orgs["unit11"])
    assert client.get("/api/v1/courses?q=归档", headers=bearer(learner)).get_json()["total"] == 1
    assert client.post(f"/api/v1/courses/{course.id}/archive", headers=bearer(admin)).status_code == 200
    assert client.get("/api/v1/courses?q=归档", headers=bearer(learner)).get_json()["total"] == 0


def test_search_falls_back_to_the_database_when_the_engine_is_down(client, app, tree, monkeypatch):
    from search import SearchUnavailable

    orgs, admin, teacher = tree
    make_course(teacher=teacher, publish_by=admin, title="乡村振兴与基层治理")
    engine = get_search_engine()

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SearchUnavailable("connection refused")

    monkeypatch.setattr(engine, "search", down)
    body = client.get("/api/v1/courses?q=乡村振兴", headers=bearer(make_user(org=orgs["unit11"]))).get_json()
    assert body["degraded"] is True and body["total"] == 1
    assert body["notice"] == "搜索服务暂时降级运行，结果可能不完整。"
    assert body["hits"][0]["title"] == "乡村振兴与基层治理"


def test_search_sync_keeps_changes_queued_while_the_engine_is_down(app, tree, monkeypatch):
    from lms.discovery.services import sync_outbox
    from search import SearchUnavailable

    _, admin, teacher = tree
    engine = get_search_engine()
    monkeypatch.setattr(engine, "index", lambda docs: (_ for _ in ()).throw(SearchUnavailable("down")))
    course = make_course(teacher=teacher, title="等待同步")
    services.submit_for_review(actor=teacher, course=course)
    services.approve(actor=admin, course=course)
    with pytest.raises(SearchUnavailable):
        sync_outbox(engine)
    assert db.session.scalar(select(SearchOutbox.attempts).where(SearchOutbox.course_id == course.id)) == 1
    monkeypatch.undo()
    assert sync_outbox(engine) == 1 and db.session.scalar(select(func.count(SearchOutbox.id))) == 0


def test_hostile_search_input_is_handled(client, tree):
    orgs, *_ = tree
    headers = bearer(make_user(org=orgs["unit11"]))
    for query in ["", "x" * 10_000, '"*()[]{}:\\/~^ AND OR', "%_%"]:
        assert client.get("/api/v1/courses", query_string={"q": query}, headers=headers).status_code == 200
    assert client.get("/api/v1/courses?sort=nonsense", headers=headers).status_code == 422


def test_course_api_workflow_for_teacher_and_admin(client, tree):
    orgs, admin, teacher = tree
    created = client.post(
        "/api/v1/courses",
        headers=bearer(teacher),
        json={
            "title": "全面从严治党",
            "hours": 2,
            "kind": "micro",
            "tags": ["廉政教育"],
            "lessons": [{"title": "第一讲", "duration_s": 600}],
        },
    )
    assert created.status_code == 201
    course_id = created.get_json()["id"]
    assert client.post(f"/api/v1/courses/{course_id}/submit", headers=bearer(teacher)).status_code == 200
    queue = client.get("/api/v1/courses/review-queue", headers=bearer(admin)).get_json()
    assert [c["id"] for c in queue["items"]] == [course_id]
    other_admin = make_admin(of=orgs["county12"])
    assert client.get("/api/v1/courses/review-queue", headers=bearer(other_admin)).get_json()["total"] == 0
    assert client.post(f"/api/v1/courses/{course_id}/approve", headers=bearer(other_admin)).status_code == 404
    approved = client.post(
        f"/api/v1/courses/{course_id}/approve", headers=bearer(admin), json={"comment": "好"}
    )
    assert approved.get_json()["status"] == "published"
    bad = client.patch(f"/api/v1/courses/{course_id}", headers=bearer(teacher), json={"hours": "lots"})
    assert bad.status_code == 422 and bad.get_json()["fields"]["hours"]


def test_search_cli_sync_and_reindex(app, tree):
    _, admin, teacher = tree
    make_course(teacher=teacher, publish_by=admin, title="命令行同步")
    runner = app.test_cli_runner()
    synced = runner.invoke(args=["search", "sync"])
    assert synced.exit_code == 0 and "已同步 1 项变更，待同步 0 项" in synced.output
    rebuilt = runner.invoke(args=["search", "reindex"])
    assert rebuilt.exit_code == 0 and "已重建索引：1 门已发布课程" in rebuilt.output


def test_course_codes_are_unique(tree):
    from lms.catalog.errors import CourseCodeTaken

    _, _, teacher = tree
    data = clean_course_data({"title": "有编号的课程"})
    services.create_course(actor=teacher, org=teacher.org, data=data, code="V-001")
    with pytest.raises(CourseCodeTaken):
        services.create_course(actor=teacher, org=teacher.org, data=data, code="V-001")


def test_catalog_page_searches_filters_and_opens_a_course(client, tree):
    from tests.factories import login

    orgs, admin, teacher = tree
    micro = make_course(
        teacher=teacher,
        publish_by=admin,
        title="党性教育微课",
        kind="micro",
        summary_html="<p>十分钟讲清<strong>党性修养</strong></p><script>x()</script>",
    )
    make_course(teacher=teacher, publish_by=admin, title="党性教育专题讲座", kind="video")
    db.session.commit()
    learner = make_user(org=orgs["unit11"])
    login(client, learner)
    page = client.get("/courses?q=党性教育").get_data(as_text=True)
    assert "<em>党性教育</em>专题讲座" in page and "共 2 门课程" in page and "分钟" in page
    assert "15–30 分钟" in page and "1 小时以上" not in page  # duration buckets (30 min each), labelled
    filtered = client.get("/courses?q=党性教育&kind=micro").get_data(as_text=True)
    assert "共 1 门课程" in filtered and "专题讲座" not in filtered
    detail = client.get(f"/courses/{micro.id}").get_data(as_text=True)
    assert "<strong>党性修养</strong>" in detail and "<script>" not in detail and "第一讲" in detail
    neighbour = make_user(org=orgs["unit12"])
    login(client, neighbour)
    assert client.get(f"/courses/{micro.id}").status_code == 404
    assert "没有找到课程" in client.get("/courses?q=党性教育").get_data(as_text=True)


def test_catalog_search_degrades_when_the_engine_is_down_from_the_start(app, tree, monkeypatch):
    """With Elasticsearch unreachable at first use, searches answer from the database instead of failing."""
    from lms.discovery import engine as engine_module
    from lms.discovery.services import search_catalog
    from search import create_engine

    orgs, admin, teacher = tree
    make_course(teacher=teacher, publish_by=admin, title="数字政府建设")
    monkeypatch.setattr(
        engine_module,
        "build_engine",
        lambda settings: create_engine("elasticsearch", url="http://127.0.0.1:9"),
    )
    app.extensions.pop("lms.search", None)
    app.extensions.pop(engine_module.READY, None)
    result = search_catalog(
        engine_module.get_search_engine(), user=make_user(org=orgs["unit11"]), text="数字政府"
    )
    assert result.degraded and [hit.title for hit in result.hits] == ["数字政府建设"]
    assert not app.extensions.get(engine_module.READY)  # it will try to set the index up again next time
    app.extensions.pop("lms.search")  # this engine points nowhere; the next test builds the real one


def test_suggestions_by_characters_pinyin_and_initials_respect_visibility(client, tree):
    orgs, admin, teacher = tree
    make_course(teacher=teacher, publish_by=admin, title="党性教育专题培训", tags=["党性教育"])
    make_course(teacher=teacher, publish_by=admin, title="党性修养八讲", visibility=[orgs["unit11"].path])
    db.session.commit()
    mine, neighbour = bearer(make_user(org=orgs["unit11"])), bearer(make_user(org=orgs["unit12"]))
    for typed in ("党性", "dangxing", "dxjy"):
        found = client.get("/api/v1/courses/suggest", query_string={"q": typed}, headers=mine).get_json()
        assert "党性教育专题培训" in [s["text"] for s in found["suggestions"]], typed
    theirs = client.get("/api/v1/courses/suggest?q=dx", headers=neighbour).get_json()["suggestions"]
    assert theirs == []
    for hostile in ("", "x", "'\\\"*()" * 100):
        assert (
            client.get("/api/v1/courses/suggest", query_string={"q": hostile}, headers=mine).status_code
            == 200
        )


def test_cadres_rate_courses_admins_moderate_comments_and_search_sorts_by_rating(client, tree):
    from lms.audit.models import AuditEntry

    orgs, admin, teacher = tree
    good = make_course(teacher=teacher, publish_by=admin, title="好评课程")
    plain = make_course(teacher=teacher, publish_by=admin, title="普通课程")
    db.session.commit()
    first, second = make_user(org=orgs["unit11"]), make_user(org=orgs["unit11"])
    passer_by = client.put(f"/api/v1/courses/{good.id}/rating", headers=bearer(first), json={"stars": 1})
    assert passer_by.status_code == 403  # only cadres who studied the course rate it
    assert passer_by.get_json()["error"] == "not_studied"
    for user in (first, second):
        mark_studied(user, good)
    mark_studied(second, plain)
    for user, stars, comment in ((first, 5, "讲得透彻"), (second, 4, "有收获"), (first, 4, "改为四星")):
        response = client.put(
            f"/api/v1/courses/{good.id}/rating",
            headers=bearer(user),
            json={"stars": stars, "comment": comment},
        )
        assert response.status_code == 200
    assert response.get_json()["course"] == {"rating_avg": 4.0, "rating_count": 2}  # re-rating replaces
    client.put(f"/api/v1/courses/{plain.id}/rating", headers=bearer(second), json={"stars": 2})
    for bad in ({"stars": 6}, {"stars": "5"}, {"stars": 3, "comment": "长" * 501}):
        assert (
            client.put(f"/api/v1/courses/{good.id}/rating", headers=bearer(first), json=bad).status_code
            == 422
        )
    outsider = make_user(org=orgs["unit12"])
    assert (
        client.put(
            f"/api/v1/courses/{good.id}/rating", headers=bearer(outsider), json={"stars": 1}
        ).status_code
        == 404
    )
    ranked = client.get("/api/v1/courses?sort=rating", headers=bearer(first)).get_json()
    assert [hit["title"] for hit in ranked["hits"]][:2] == ["好评课程", "普通课程"]
    comments = client.get(f"/api/v1/courses/{good.id}/ratings", headers=bearer(first)).get_json()
    target = next(item for item in comments["items"] if item["comment"] == "有收获")
    path = f"/api/v1/courses/{good.id}/ratings/{target['id']}/moderate"
    assert (
        client.post(path, headers=bearer(make_admin(of=orgs["county12"])), json={"hidden": True}).status_code
        == 404
    )
    assert (
        client.post(path, headers=bearer(admin), json={"hidden": True}).status_code == 422
    )  # a reason is required
    assert (
        client.post(path, headers=bearer(admin), json={"hidden": True, "reason": "无关内容"}).status_code
        == 200
    )
    visible = client.get(f"/api/v1/courses/{good.id}/ratings", headers=bearer(first)).get_json()
    assert [item["comment"] for item in visible["items"]] == ["改为四星"] and visible["rating_avg"] == 4.0
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "course.moderate_rating")
        )
        == 1
    )


def test_rating_on_the_course_page(client, tree):
    from tests.factories import csrf_token, login

    orgs, admin, teacher = tree
    course = make_course(teacher=teacher, publish_by=admin, title="页面评分课程")
    db.session.commit()
    cadre = make_user(org=orgs["unit11"])
    login(client, cadre)
    token = csrf_token(client, f"/courses/{course.id}")
    early = client.post(f"/learn/courses/{course.id}/rating", data={"csrf_token": token, "stars": "5"})
    assert "学习过该课程后才能评价" in client.get(early.headers["Location"]).get_data(as_text=True)
    mark_studied(cadre, course)
    db.session.commit()
    done = client.post(
        f"/learn/courses/{course.id}/rating", data={"csrf_token": token, "stars": "5", "comment": "很好"}
    )
    assert done.status_code == 302
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "感谢您的评价" in page and "★★★★★ 很好" in page and "5 分（共 1 人评价）" in page
