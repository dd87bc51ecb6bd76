"""Suggestions as you type: the same assertions on both engines, then the pure key and request logic."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from search import CourseDocument, InvalidQuery, SearchEngine, Suggestion, SuggestionKind
from search.suggest import MAX_KEY_CHARS, MAX_VARIANTS, build_suggest_body, suggest_request, suggestion_keys

COUNTY_A, COUNTY_A_UNIT, COUNTY_B, PROVINCE = "/1/2/3/", "/1/2/3/7/", "/1/2/4/", "/1/"

TITLE, TAG, TEACHER = SuggestionKind.TITLE, SuggestionKind.TAG, SuggestionKind.TEACHER
PARTY_SPIRIT = [
    Suggestion("党性教育", None, TAG),  # from its first character; its most popular course has 900
    Suggestion("党性教育与作风建设", "c02", TITLE),  # from its first character; 300
    Suggestion("新时代党性教育专题培训", "c01", TITLE),  # from a later word
]


def texts(engine: SearchEngine, prefix: str, **params: object) -> list[str]:
    return [s.text for s in engine.suggest(prefix, **{"visible_to_paths": None, **params})]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "prefix",
    [
        "党性",
        "党性教",
        "dangxing",
        "dang xing",
        "DangXing",
        "dangxingjiaoyu",
        "dangx",
        "dxjy",
        "dxj",
        "党x",
        "dang性",
    ],
)
def test_characters_full_pinyin_initials_and_mixed(catalog: SearchEngine, prefix: str) -> None:
    assert catalog.suggest(prefix, visible_to_paths=None) == PARTY_SPIRIT


def test_substrings_and_words_inside_a_title(catalog: SearchEngine) -> None:
    assert texts(catalog, "村") == ["乡村振兴战略与基层治理", "乡村振兴"]  # same course: title first
    assert texts(catalog, "xiangcun") == texts(catalog, "xczx") == ["乡村振兴战略与基层治理", "乡村振兴"]
    assert texts(catalog, "振兴") == texts(catalog, "zhenxing") == ["乡村振兴战略与基层治理", "乡村振兴"]
    assert texts(catalog, "xing") == []  # pinyin only from word starts: not 党|性, 振|兴


def test_teachers_and_latin_titles(catalog: SearchEngine) -> None:
    assert catalog.suggest("wangjianguo", visible_to_paths=None) == [Suggestion("王建国", None, TEACHER)]
    assert texts(catalog, "wjg") == texts(catalog, "王建") == ["王建国"]
    assert catalog.suggest("pyth", visible_to_paths=None) == [Suggestion("Python数据分析入门", "c11", TITLE)]
    assert texts(catalog, "Ｐｙｔｈｏｎ 数据") == ["Python数据分析入门"]


def test_first_character_matches_first_then_popularity(catalog: SearchEngine) -> None:
    assert texts(catalog, "党")[:6] == [
        "党的创新理论",  # tag of c03, 1500
        "党性教育",  # tag, 900
        "党的基本理论十讲",  # title of c04, 700: a title before a tag of equal popularity
        "党的基本理论",  # tag of c04
        "党性教育与作风建设",  # 300
        "新时代党性教育专题培训",  # 党 inside, though 900
    ]
    assert texts(catalog, "党", limit=2) == ["党的创新理论", "党性教育"]


def test_visibility_as_in_search(catalog: SearchEngine) -> None:
    assert texts(catalog, "xiangcun", visible_to_paths=[COUNTY_B]) == []
    assert texts(catalog, "xiangcun", visible_to_paths=[COUNTY_A_UNIT]) == [
        "乡村振兴战略与基层治理",
        "乡村振兴",
    ]
    assert texts(catalog, "hongse", visible_to_paths=[COUNTY_A]) == []  # c12 is for unit /1/2/3/7/ only
    assert texts(catalog, "hongse", visible_to_paths=[COUNTY_A_UNIT]) == [
        "红色文化与革命传统教育",
        "红色文化",
    ]
    assert "党的基本理论" not in texts(catalog, "党", visible_to_paths=[PROVINCE])  # tag of c04 (/1/2/) only
    assert texts(catalog, "liu", visible_to_paths=[COUNTY_B]) == []  # 刘志强 teaches c05 only
    assert texts(catalog, "党", visible_to_paths=[]) == []


@pytest.mark.parametrize("prefix", ["", "   ", "d", "D", "Ｄ", "3", "?", "x ", '"', "\ue000"])
def test_empty_or_single_letter_suggests_nothing(catalog: SearchEngine, prefix: str) -> None:
    assert catalog.suggest(prefix, visible_to_paths=None) == []


@pytest.mark.parametrize(
    "prefix",
    [
        "党" * 10_000,
        "x" * 10_000,
        "dang" * 100,
        "%_*?[]\\",
        "' OR 1=1; --",
        '"党性" AND title:*',
        "\x00\u200b\U0010ffff\ue000",
        "<script>alert(1)</script>",
        "🙂🙂",
        "荡x",  # not 党
    ],
)
def test_hostile_input_never_fails(catalog: SearchEngine, prefix: str) -> None:
    assert catalog.suggest(prefix, visible_to_paths=None) == []


def test_bad_parameters_are_invalid(catalog: SearchEngine) -> None:
    with pytest.raises(InvalidQuery):
        catalog.suggest("党性", visible_to_paths=None, limit=0)
    with pytest.raises(InvalidQuery):
        catalog.suggest("党性", visible_to_paths=["1/2"])


def test_polyphonic_characters(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    engine.index(
        [
            course("cq", title="重庆红色教育基地"),
            course("zy", title="重要讲话精神"),
            course("bank", title="银行业风险防控"),
            course("gov", title="行政管理实务"),
            course("march", title="长征精神"),
        ]
    )
    engine.refresh()
    assert texts(engine, "chongqing") == texts(engine, "cq") == ["重庆红色教育基地"]  # the reading in context
    assert texts(engine, "zhongqing") == ["重庆红色教育基地"]  # and the other common one
    assert texts(engine, "zhongyao") == texts(engine, "zy") == ["重要讲话精神"]
    assert texts(engine, "yinhang") == ["银行业风险防控"]
    assert texts(engine, "xingzheng") == ["行政管理实务"]
    assert texts(engine, "changzheng") == texts(engine, "czjs") == ["长征精神"]


def test_suggestions_follow_writes(engine: SearchEngine, course: Callable[..., CourseDocument]) -> None:
    engine.index([course("x1", title="乡村振兴", tags=("三农",), teachers=("刘志强",), popularity=5)])
    engine.refresh()
    assert engine.suggest("xiangcun", visible_to_paths=None) == [Suggestion("乡村振兴", "x1", TITLE)]
    assert texts(engine, "sannong") == ["三农"]
    engine.index([course("x1", title="安全生产", version=2)])
    engine.refresh()
    assert texts(engine, "xiangcun") == texts(engine, "sannong") == texts(engine, "liuzhi") == []
    assert texts(engine, "anquan") == ["安全生产"]
    engine.delete(["x1"])
    engine.refresh()
    assert texts(engine, "anquan") == []


# --- pure: keys and requests --------------------------------------------------------------------------


def test_keys_cover_characters_pinyin_and_initials() -> None:
    keys = suggestion_keys(CourseDocument(id="x", title="新时代党性教育", teachers=("王建国",)))
    assert keys["新时代党性教育"] and keys["xinshidaidangxingjiaoyu"] and keys["xsddxjy"]  # head keys
    assert keys["王建国"] and keys["wangjianguo"] and keys["wjg"]
    assert not keys["党性教育"] and not keys["dangxingjiaoyu"] and not keys["dxjy"]  # from a later word
    assert "性教育" in keys  # characters from any position
    assert "xingjiaoyu" not in keys  # pinyin from word starts only
    assert max(map(len, keys)) <= MAX_KEY_CHARS


def test_polyphonic_readings_are_capped() -> None:
    keys = suggestion_keys(CourseDocument(id="x", title="重庆银行行长"))
    heads = {key for key, head in keys.items() if head}
    assert {"chongqingyinhanghangzhan", "zhongqingyinhanghangzhan", "cqyhhz", "zqyhhz"} <= heads
    assert len(heads) == 1 + 2 * MAX_VARIANTS  # the characters, then at most 4 full and 4 initials


def test_requests() -> None:
    assert suggest_request("   ", None, 10) is None
    assert suggest_request("d", None, 10) is None
    request = suggest_request("Dang Xing", ["/1/2/"], 500)
    assert request is not None
    assert (request.text, request.probes, request.limit) == ("dangxing", ("dangxing",), 50)
    assert request.visibility == frozenset({"/", "/1/", "/1/2/"})
    mixed = suggest_request("党x", None, 10)
    assert mixed is not None and mixed.probes == ("党x", "dangx", "dx")
    assert len(suggest_request("党" * 1000, None, 10).text) == 50  # type: ignore[union-attr]


def test_elasticsearch_body_prefers_head_keys_then_popularity() -> None:
    request = suggest_request("dxjy", ["/1/"], 5)
    assert request is not None
    body = build_suggest_body(request)
    head, anywhere = body["query"]["bool"]["must"][0]["dis_max"]["queries"]
    assert head["constant_score"]["boost"] > anywhere["constant_score"]["boost"]
    assert head["constant_score"]["filter"] == {"bool": {"should": [{"prefix": {"suggest_head": "dxjy"}}]}}
    assert body["query"]["bool"]["filter"] == [{"terms": {"visible_org_paths": ["/", "/1/"]}}]
    assert body["sort"][1:] == [{"popularity": {"order": "desc"}}, {"id": {"order": "asc"}}]
    assert body["size"] == 50
