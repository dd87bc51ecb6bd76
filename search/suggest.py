"""Suggestions as you type: course titles, tags and teacher names matching what was typed so far.

An entry (a title, a tag, a teacher name) matches the typed prefix when the prefix, with spaces and
punctuation removed, is written from one of its positions on:

- in characters, from any character on: ``党性`` finds 新时代党性教育专题培训, ``pyth`` finds Python入门;
- in full pinyin, from the start of a (jieba search-mode) word: ``dangxing``, ``dang xing`` and
  ``dangxingjiaoyu`` find 党性教育; the last syllable may be cut short (``dangx``);
- in pinyin initials, from the start of a word: ``dxjy`` and ``dxj`` find 党性教育;
- mixed, each Han character in itself or in pinyin: ``党x``, ``dang性``.

A Han character is read with its reading in context (pypinyin's phrases: 重庆 chong, 银行 hang) and its
next most common one (``MAX_READINGS``), so 重庆 is also found as ``zhongqing`` and 行政 as ``hangzheng``.
An empty input, or a single letter or digit, suggests nothing.

Ranking: entries matched from their first character first, then by popularity (a tag or teacher: its most
popular visible course), then titles before tags before teachers, then text. Visibility as in search.

Both engines find candidates the same way: every entry is indexed as *keys*, strings a matching prefix is a
prefix of (``suggestion_keys``: the entry's text from each character on, and its full pinyin and initials
from each word on, with a few reading variants, all cut to ``MAX_KEY_CHARS``). The engine returns the
visible courses having a key the request's probes are a prefix of, those with a key from an entry's
first character (a *head* key) first, then by popularity, at most ``SuggestRequest.candidates`` of them.
``collect_suggestions`` then checks every entry of those courses exactly and ranks them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from itertools import groupby
from typing import Any

from search.analysis import char_spans, char_tokens, is_han, normalize, word_starts
from search.documents import CourseDocument
from search.errors import InvalidQuery
from search.query import org_paths, visibility_keys

MAX_INPUT_CHARS = 50
"""Typed text beyond this is ignored."""
MAX_SUGGESTIONS = 50
MAX_ENTRY_TOKENS = 64
"""Only the first characters (letter runs) of an entry are suggestible from."""
MAX_KEY_CHARS = 24
MAX_READINGS = 2
"""Pinyin readings per Han character: the one in context, then the next most common."""
MAX_VARIANTS = 4
"""Reading combinations per key, fewest departures from the readings in context first."""
CANDIDATES_PER_SUGGESTION = 10


class SuggestionKind(StrEnum):
    """What a suggestion names. Picking a tag or a teacher means filtering by it (facets tags, teacher)."""

    TITLE = "title"
    TAG = "tag"
    TEACHER = "teacher"


_KIND_ORDER = {kind: order for order, kind in enumerate(SuggestionKind)}


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    """The title, tag or teacher name, as written in the course."""
    course_id: str | None
    """The course of a title; ``None`` for a tag or teacher, which name many courses."""
    kind: SuggestionKind


@dataclass(frozen=True, slots=True)
class SuggestRequest:
    """A validated suggestion request (see ``suggest_request``)."""

    text: str
    """The typed prefix, normalized, without spaces and punctuation."""
    probes: tuple[str, ...]
    """Candidates have a key starting with one of these."""
    visibility: frozenset[str] | None
    limit: int

    @property
    def candidates(self) -> int:
        return self.limit * CANDIDATES_PER_SUGGESTION


@dataclass(frozen=True, slots=True)
class Candidate:
    """A course an engine found for a request, with what can be suggested from it."""

    id: str
    title: str
    tags: Sequence[str]
    teachers: Sequence[str]
    popularity: int


@dataclass(frozen=True, slots=True)
class _Entry:
    """A suggestible text, analyzed: its character tokens and their pinyin readings (none for letters)."""

    tokens: tuple[str, ...]
    readings: tuple[tuple[str, ...], ...]
    word_starts: frozenset[int]
    """Indexes of the tokens a word starts at: where pinyin may start matching."""
    spellings: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    """Per token: how it may be written in full pinyin, and in initials (``_options``), the token first."""
    starts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """First character of what is typed -> the token indexes a match may start at, ascending: any token
    by its own first character, a word start also by the first letter of each reading."""


def suggest_request(
    prefix: str, visible_to_paths: str | Collection[str] | None, limit: int
) -> SuggestRequest | None:
    """Validate a request (``InvalidQuery`` for a bad limit or org path); ``None`` if nothing can match."""
    if not isinstance(prefix, str):
        raise InvalidQuery(f"prefix must be a string, not {type(prefix).__name__}")
    if not isinstance(limit, int) or limit < 1:
        raise InvalidQuery(f"limit must be a positive integer, got {limit!r}")
    paths = org_paths(visible_to_paths)
    tokens = char_tokens(prefix[:MAX_INPUT_CHARS])
    text = "".join(tokens)
    han = {is_han(token) for token in tokens}
    if han <= {False} and len(text) < 2:
        return None
    probes = [text]
    if han == {True, False}:  # mixed: also spell the Han characters in pinyin
        readings = _readings(tuple(tokens))
        probes += _spellings(tokens, readings, initials=False) + _spellings(tokens, readings, initials=True)
    return SuggestRequest(
        text=text,
        probes=tuple(dict.fromkeys(probe[:MAX_KEY_CHARS] for probe in probes)),
        visibility=None if paths is None else visibility_keys(paths),
        limit=min(limit, MAX_SUGGESTIONS),
    )


def warm_up() -> None:
    """Load jieba's and pypinyin's dictionaries now rather than on the first search or suggestion (a server
    calls this before forking its workers, so each inherits them)."""
    _analyze("党性教育")


def suggestion_keys(doc: CourseDocument) -> dict[str, bool]:
    """The keys of ``doc``'s title, tags and teachers -> whether the key is a head key (see module doc)."""
    keys: dict[str, bool] = {}
    for text in (doc.title, *doc.tags, *doc.teachers):
        for key, head in _entry_keys(_analyze(text)):
            keys[key] = keys.get(key, False) or head
    return keys


def collect_suggestions(request: SuggestRequest, candidates: Iterable[Candidate]) -> list[Suggestion]:
    """The ranked suggestions among the entries of ``candidates`` (see the module doc)."""
    best: dict[tuple[SuggestionKind, str, str | None], tuple[int, int]] = {}
    tiers: dict[str, int | None] = {}  # a tag or teacher recurs over many candidates: check it once
    for candidate in candidates:
        entries = [
            (SuggestionKind.TITLE, candidate.title, candidate.id),
            *((SuggestionKind.TAG, tag, None) for tag in candidate.tags),
            *((SuggestionKind.TEACHER, teacher, None) for teacher in candidate.teachers),
        ]
        for entry in entries:
            text = entry[1]
            if text not in tiers:
                tiers[text] = _tier(_analyze(text), request.text)
            tier = tiers[text]
            if tier is not None:
                rank = (tier, -candidate.popularity)
                best[entry] = min(best.get(entry, rank), rank)
    ranked = sorted(best, key=lambda entry: (*best[entry], _KIND_ORDER[entry[0]], entry[1], entry[2] or ""))
    return [Suggestion(text, course_id, kind) for kind, text, course_id in ranked[: request.limit]]


def build_suggest_body(request: SuggestRequest) -> dict[str, Any]:
    """The Elasticsearch ``_search`` body finding the candidates of ``request``."""

    def any_key(field: str, boost: float) -> dict[str, Any]:
        prefixes = [{"prefix": {field: probe}} for probe in request.probes]
        return {"constant_score": {"filter": {"bool": {"should": prefixes}}, "boost": boost}}

    scope = (
        [] if request.visibility is None else [{"terms": {"visible_org_paths": sorted(request.visibility)}}]
    )
    return {
        "query": {
            "bool": {
                "filter": scope,
                "must": [
                    {"dis_max": {"queries": [any_key("suggest_head", 2.0), any_key("suggest_keys", 1.0)]}}
                ],
            }
        },
        "size": request.candidates,
        "track_total_hits": False,
        "_source": ["title", "tags", "teachers", "popularity"],
        "sort": [{"_score": {"order": "desc"}}, {"popularity": {"order": "desc"}}, {"id": {"order": "asc"}}],
    }


@lru_cache(maxsize=8192)
def _analyze(text: str) -> _Entry:
    normalized = normalize(text)
    spans = list(char_spans(normalized))[:MAX_ENTRY_TOKENS]
    tokens = tuple(token for token, _, _ in spans)
    offsets = word_starts(normalized)
    readings = _readings(tokens)
    words = frozenset(n for n, (_, start, _) in enumerate(spans) if start in offsets)
    spellings = tuple(
        (
            tuple(dict.fromkeys((token, *_options(token, token_readings, initials=False)))),
            tuple(dict.fromkeys((token, *_options(token, token_readings, initials=True)))),
        )
        for token, token_readings in zip(tokens, readings, strict=True)
    )
    starts: dict[str, list[int]] = {}
    for n, (full, _) in enumerate(spellings):
        for first in dict.fromkeys(option[0] for option in (full if n in words else full[:1])):
            starts.setdefault(first, []).append(n)
    return _Entry(
        tokens=tokens,
        readings=readings,
        word_starts=words,
        spellings=spellings,
        starts={first: tuple(found) for first, found in starts.items()},
    )


def _readings(tokens: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Per token: its readings if a Han character with pinyin (in context first), else none."""
    from pypinyin import lazy_pinyin  # 0.2 s to import; only needed here

    readings: list[tuple[str, ...]] = []
    for han, group in groupby(tokens, key=is_han):
        run = list(group)
        if not han:
            readings += [()] * len(run)
            continue
        in_context = lazy_pinyin("".join(run), errors=_one_per_char)
        for char, reading in zip(run, in_context, strict=True):
            found = dict.fromkeys(r for r in (reading, *_heteronyms(char)) if r.isascii() and r.isalpha())
            readings.append(tuple(found)[:MAX_READINGS])
    return tuple(readings)


def _one_per_char(chars: str) -> Any:
    """pypinyin's ``errors`` handler: characters without pinyin stay, one item each (a list is accepted)."""
    return list(chars)


@lru_cache(maxsize=16384)
def _heteronyms(char: str) -> tuple[str, ...]:
    from pypinyin import Style, pinyin

    return tuple(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def _options(token: str, readings: tuple[str, ...], *, initials: bool) -> tuple[str, ...]:
    """How the token may be spelled in pinyin: its readings or their initials; letters as they are."""
    if not readings:
        return (token,)
    return tuple(dict.fromkeys(reading[0] for reading in readings)) if initials else readings


def _spellings(tokens: Sequence[str], readings: Sequence[tuple[str, ...]], *, initials: bool) -> list[str]:
    """Up to ``MAX_VARIANTS`` pinyin spellings of ``tokens`` (long enough for a key), fewest departures
    from the first reading first, then departures as early as possible."""
    variants: list[tuple[str, int]] = [("", 0)]
    for token, token_readings in zip(tokens, readings, strict=True):
        if all(len(text) >= MAX_KEY_CHARS for text, _ in variants):
            break
        options = _options(token, token_readings, initials=initials)
        grown = [
            (text + option, departures + (n > 0))
            for n, option in enumerate(options)
            for text, departures in variants
        ]
        variants = sorted(grown, key=lambda variant: variant[1])[:MAX_VARIANTS]
    return [text for text, _ in variants]


def _entry_keys(entry: _Entry) -> Iterator[tuple[str, bool]]:
    """``(key, head)``: the entry's text from each token on; its pinyin from each word start on."""
    for start in range(len(entry.tokens)):
        yield "".join(entry.tokens[start:])[:MAX_KEY_CHARS], start == 0
        if start in entry.word_starts:
            for initials in (False, True):
                for key in _spellings(entry.tokens[start:], entry.readings[start:], initials=initials):
                    yield key[:MAX_KEY_CHARS], start == 0


def _tier(entry: _Entry, text: str) -> int | None:
    """0 if ``text`` matches from the entry's first token, 1 if only from a later one, else ``None``.
    Only the tokens ``text``'s first character may start a match at are tried (``_Entry.starts``)."""
    starts = entry.starts.get(text[:1], ())
    first = next((start for start in starts if _matches_at(entry, start, text)), None)
    return None if first is None else min(first, 1)


def _matches_at(entry: _Entry, start: int, text: str) -> bool:
    if "".join(entry.tokens[start:]).startswith(text):
        return True
    return start in entry.word_starts and any(
        _spelled(entry, start, text, initials=initials) for initials in (False, True)
    )


def _spelled(entry: _Entry, n: int, text: str, *, initials: bool) -> bool:
    """Whether ``text`` spells tokens ``n``, ``n + 1``, … each as itself or in pinyin (the last one may be
    cut short: the user is still typing it)."""
    if not text:
        return True
    if n == len(entry.tokens):
        return False
    for option in entry.spellings[n][initials]:
        if text.startswith(option):
            if _spelled(entry, n + 1, text[len(option) :], initials=initials):
                return True
        elif option.startswith(text):
            return True
    return False
