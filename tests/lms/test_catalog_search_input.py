"""Bad input to catalog search and suggestions through the API: empty, 10,000-character and query-syntax
text, LIKE wildcards and bad parameters, with the engine answering and with the database answering."""

from __future__ import annotations

import pytest

from lms.core.db import db
from lms.discovery.engine import get_search_engine
from search import SearchUnavailable
from tests.factories import bearer, make_admin, make_course, make_teacher, make_user, province_tree

SYNTAX = [
    '"党性教育"',
    "党性教育*",
    "+党性教育 -",
    "(党性教育)",
    "{党性教育}?",
    "党性教育\\",
    "党性教育 AND",
    "党性教育 OR",
]
"""Query syntax of search engines around a word; AND and OR are stopwords, not operators."""


@pytest.fixture
def headers(db_session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A cadre of a county unit, who may see three published courses (a neighbour's is not among them)."""
    orgs = province_tree()
    admin, teacher = make_admin(of=orgs["county11"]), make_teacher(org=orgs["unit11"], name="王建国")
    for title in ("党性教育专题培训", "100%完成年度学习任务", "乡村振兴_案例"):
        make_course(teacher=teacher, publish_by=admin, title=title)
    neighbour = make_teacher(org=orgs["unit12"])
    make_course(teacher=neighbour, publish_by=make_admin(of=orgs["county12"]), title="邻县的党性教育")
    db.session.commit()
    return bearer(make_user(org=orgs["unit11"]))


def titles(client, headers: dict[str, str], q: str, **params: object) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/courses", query_string={"q": q, **params}, headers=headers)
    assert response.status_code == 200, (q[:40], response.get_json())
    return sorted(hit["title"] for hit in response.get_json()["hits"])


def suggested(client, headers: dict[str, str], q: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/courses/suggest", query_string={"q": q}, headers=headers)
    assert response.status_code == 200, (q[:40], response.get_json())
    return [s["text"] for s in response.get_json()["suggestions"]]


def test_empty_and_very_long_text(client, headers):
    everything = ["100%完成年度学习任务", "乡村振兴_案例", "党性教育专题培训"]
    assert titles(client, headers, "") == titles(client, headers, " \t ") == everything
    assert titles(client, headers, "党性教育 " * 2_500) == ["党性教育专题培训"]  # 10,000 characters
    assert titles(client, headers, "x" * 10_000) == []
    assert suggested(client, headers, "") == []
    assert suggested(client, headers, "dxjy" + "x" * 9_996) == []
    assert suggested(client, headers, "党" * 10_000) == []


@pytest.mark.parametrize("text", SYNTAX)
def test_query_syntax_is_plain_text(client, headers, text):
    assert titles(client, headers, text) == ["党性教育专题培训"]
    if " " not in text.strip(" -+"):
        assert "党性教育专题培训" in suggested(client, headers, text)  # punctuation is skipped as typed


def test_nothing_searchable_finds_nothing_and_wildcards_are_literal(client, headers):
    assert titles(client, headers, '"*()[]{}:\\/~^ AND OR NOT') == []
    assert titles(client, headers, "%") == titles(client, headers, "_") == []  # nothing searchable
    assert titles(client, headers, "100%") == ["100%完成年度学习任务"]
    assert suggested(client, headers, "%_*?") == []


def test_the_database_fallback_takes_the_same_input(client, headers, monkeypatch):
    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SearchUnavailable("connection refused")

    engine = get_search_engine()
    monkeypatch.setattr(engine, "search", down)
    monkeypatch.setattr(engine, "suggest", down)
    assert titles(client, headers, "") == ["100%完成年度学习任务", "乡村振兴_案例", "党性教育专题培训"]
    assert titles(client, headers, "党性教育 " * 2_500) == ["党性教育专题培训"]
    assert titles(client, headers, "x" * 10_000) == []
    assert titles(client, headers, "%") == ["100%完成年度学习任务"]  # LIKE wildcards match themselves
    assert titles(client, headers, "_") == ["乡村振兴_案例"]
    assert titles(client, headers, "%_%") == []
    assert titles(client, headers, '"*()[]{}:\\/~^') == []
    body = client.get("/api/v1/courses", query_string={"q": "'; DROP TABLE courses; --"}, headers=headers)
    assert body.status_code == 200 and body.get_json()["degraded"] is True
    assert suggested(client, headers, "dxjy") == []  # no suggestions while the engine is down


@pytest.mark.parametrize(
    "params",
    [{"sort": "nonsense"}, {"hours": "lots"}, {"duration": "<=15min'"}, {"page": 100_000, "per_page": 50}],
)
def test_bad_parameters_are_refused_with_a_message(client, headers, params):
    response = client.get("/api/v1/courses", query_string={"q": "党性", **params}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["message"] == "搜索参数无效。"


def test_out_of_range_paging_is_clamped(client, headers):
    response = client.get("/api/v1/courses", query_string={"page": "-3", "per_page": "9999"}, headers=headers)
    assert response.status_code == 200
    assert (response.get_json()["page"], response.get_json()["per_page"]) == (1, 50)
