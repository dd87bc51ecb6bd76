"""Chinese text analysis, done in the app and shared by both engines.

Every searchable field is indexed twice, as whitespace-separated token strings:

- ``<field>_chars``: each Han character alone, every other run of letters/digits as one token
  (like Elasticsearch's ``standard`` tokenizer). A query term is matched as a *phrase* over these, so any
  substring matches, a single character included, even when jieba would segment it differently.
- ``<field>_words``: jieba search-mode words (``cut_for_search``), with a domain dictionary of party and
  government terms. A term that is also an indexed word scores extra.

Both engines see exactly these tokens (Elasticsearch through the ``whitespace`` analyzer, SQLite through
FTS5's ``unicode61``), so the minimal Elasticsearch distribution, which has neither smartcn nor IK, works,
and the two engines match the same documents.

Text is NFKC-normalized (full-width to half-width) and lower-cased one character at a time, so offsets
still point into the original text for highlighting, which is done here too (``highlight``) for both
engines: a hit's title and summary get the query's terms marked where search matched them.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

from search.documents import CourseDocument

if TYPE_CHECKING:
    import jieba

DOMAIN_TERMS = (
    "党性教育",
    "党性修养",
    "党的基本理论",
    "党的创新理论",
    "习近平新时代中国特色社会主义思想",
    "干部教育培训",
    "全面从严治党",
    "乡村振兴",
    "党史学习教育",
    "党纪学习教育",
    "主题教育",
    "理想信念",
    "理想信念教育",
    "党风廉政建设",
    "廉政教育",
    "警示教育",
    "廉洁自律",
    "作风建设",
    "基层党组织建设",
    "基层治理",
    "中国式现代化",
    "高质量发展",
    "新发展理念",
    "新发展格局",
    "共同富裕",
    "党内法规",
    "中央八项规定",
    "民主集中制",
    "三会一课",
    "意识形态工作",
    "统一战线",
    "群众路线",
    "全面依法治国",
    "全过程人民民主",
    "生态文明建设",
    "总体国家安全观",
    "应急管理",
    "安全生产",
    "营商环境",
    "数字政府",
    "放管服改革",
    "红色文化",
    "两个确立",
    "两个维护",
    "四个意识",
    "四个自信",
)

STOPWORDS = frozenset(
    {"的", "了", "和", "与", "及", "或", "在", "是", "之", "等", "and", "or", "not", "the", "of"}
)
"""Dropped from a query, unless nothing else is left."""

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 12

VALUE_GAP = "\ue000"
"""Token between the values of a multi-valued field, so that no phrase spans two tags or two teachers.
A private-use character: queries never contain one (normalization removes them)."""

MARK_START, MARK_END = "\ue001", "\ue002"
"""Highlight markers inside raw text; ``render_highlight`` turns them into ``<em>`` after escaping."""

TEXT_FIELDS: dict[str, float] = {"title": 4.0, "tags": 3.0, "teachers": 3.0, "summary": 1.0, "lessons": 1.0}
"""Searchable fields and their boosts."""

HIGHLIGHT_FIELDS = ("title", "summary")

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_TOKEN = re.compile(rf"[{_HAN}]|[^\W_{_HAN}]+")
_HAN_CHAR = re.compile(rf"[{_HAN}]")
_SEPARATOR = "\x00"  # never in a token: normalization turns control characters into spaces

_jieba_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def _jieba() -> jieba.Tokenizer:
    """The shared jieba tokenizer with the domain terms, built on first use (about a second)."""
    global _tokenizer
    with _jieba_lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            for term in DOMAIN_TERMS:
                tokenizer.add_word(term)
            _tokenizer = tokenizer
        return _tokenizer


@lru_cache(maxsize=65536)
def _normalize_char(ch: str) -> str:
    return "".join(
        " " if unicodedata.category(c).startswith("C") else c
        for c in unicodedata.normalize("NFKC", ch).lower()
    )


def normalize(text: str) -> str:
    """NFKC and lower-case per character; control, format and private-use characters become spaces."""
    return "".join(map(_normalize_char, text))


def char_spans(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` for the character tokens of ``text``; offsets index ``text`` itself."""
    parts = list(map(_normalize_char, text))
    normalized = "".join(parts)
    if len(normalized) == len(text) and "" not in parts:  # one character each: the same offsets
        return [(match.group(), match.start(), match.end()) for match in _TOKEN.finditer(normalized)]
    origin = [i for i, part in enumerate(parts) for _ in part]
    return [
        (match.group(), origin[match.start()], origin[match.end() - 1] + 1)
        for match in _TOKEN.finditer(normalized)
    ]


def char_tokens(text: str) -> list[str]:
    return [token for token, _, _ in char_spans(text)]


def is_han(token: str) -> bool:
    """Whether a character token is a Han character (the others are letter/digit runs)."""
    return _HAN_CHAR.fullmatch(token) is not None


def word_starts(text: str) -> set[int]:
    """Offsets in ``normalize(text)`` where a jieba search-mode word starts (sub-words included)."""
    return {start for _, start, _ in _jieba().tokenize(normalize(text), mode="search", HMM=False)}


def word_tokens(text: str) -> list[str]:
    """jieba search-mode words of ``text``; punctuation and mixed tokens such as ``c++`` are dropped."""
    return [word for word in _jieba().cut_for_search(normalize(text), HMM=False) if word.isalnum()]


def segment_document(doc: CourseDocument) -> dict[str, str]:
    """The ``<field>_chars`` / ``<field>_words`` token strings both engines index for ``doc``."""
    values: dict[str, Sequence[str]] = {
        "title": (doc.title,),
        "tags": doc.tags,
        "teachers": doc.teachers,
        "summary": (doc.summary,),
        "lessons": doc.lesson_titles,
    }
    segmented: dict[str, str] = {}
    for field in TEXT_FIELDS:
        chars = (" ".join(char_tokens(value)) for value in values[field])
        segmented[f"{field}_chars"] = f" {VALUE_GAP} ".join(chars)
        segmented[f"{field}_words"] = " ".join(word for value in values[field] for word in word_tokens(value))
    return segmented


@dataclass(frozen=True, slots=True)
class Term:
    """One query term: a document must contain ``chars`` as a phrase in some field.

    ``word`` is the jieba word, also looked up in the ``_words`` fields for scoring; ``None`` when it is not
    a single token there (e.g. ``c++``).
    """

    chars: tuple[str, ...]
    word: str | None


def query_terms(text: str) -> tuple[Term, ...]:
    """Split user text into terms; never fails. Query syntax has no meaning: it is punctuation, dropped.

    The text is cut to ``MAX_QUERY_CHARS``, segmented with jieba (so domain terms stay whole), deduplicated,
    stripped of stopwords (unless only stopwords remain) and capped at ``MAX_QUERY_TERMS`` terms.
    """
    terms: dict[tuple[str, ...], Term] = {}
    for word in _jieba().cut(normalize(text)[:MAX_QUERY_CHARS], HMM=False):
        chars = tuple(char_tokens(word))
        if chars and chars not in terms:
            terms[chars] = Term(chars, word if word.isalnum() else None)
    kept = [term for term in terms.values() if term.word not in STOPWORDS] or list(terms.values())
    return tuple(kept[:MAX_QUERY_TERMS])


def mark_matches(text: str, terms: Sequence[Term]) -> str | None:
    """``text`` with each occurrence of a term wrapped in highlight markers, or ``None`` without a match.

    The highlighter of both engines: a term matches where its characters are consecutive tokens, as in
    search, whatever punctuation or spaces lie between them.
    """
    normalized = normalize(text)
    terms = [term for term in terms if all(token in normalized for token in term.chars)]  # quick reject
    if not terms:
        return None
    spans = char_spans(text)
    # The tokens between separators (never part of a token): a phrase is a substring from one separator on.
    joined = _SEPARATOR + _SEPARATOR.join(token for token, _, _ in spans) + _SEPARATOR
    starts = list(accumulate((len(token) + 1 for token, _, _ in spans), initial=1))
    marks: list[tuple[int, int]] = []
    for term in terms:
        needle = _SEPARATOR + _SEPARATOR.join(term.chars) + _SEPARATOR
        at = joined.find(needle)
        while at != -1:
            first = bisect_left(starts, at + 1)
            marks.append((spans[first][1], spans[first + len(term.chars) - 1][2]))
            at = joined.find(needle, at + 1)
    if not marks:
        return None
    merged: list[list[int]] = []
    for start, end in sorted(marks):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    position = 0
    for start, end in merged:
        out += [text[position:start], MARK_START, text[start:end], MARK_END]
        position = end
    out.append(text[position:])
    return "".join(out)


def highlight(fields: Mapping[str, str], terms: Sequence[Term]) -> dict[str, str]:
    """A hit's highlights: each of ``HIGHLIGHT_FIELDS`` a term matches -> its text rendered with ``<em>``."""
    marked = {name: mark_matches(fields[name], terms) for name in HIGHLIGHT_FIELDS} if terms else {}
    return {name: render_highlight(text) for name, text in marked.items() if text is not None}


def render_highlight(marked: str) -> str:
    """HTML-escape marked text and turn the markers into ``<em>``; touching marks become one."""
    escaped = html.escape(marked.replace(MARK_END + MARK_START, ""))
    return escaped.replace(MARK_START, "<em>").replace(MARK_END, "</em>")
