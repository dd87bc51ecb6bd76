"""Grading, answer cleaning, what the browser may see, and item statistics: the pure core the exam service
wraps (no framework, no database, no clock, no I/O).

The JSON shapes are those of :mod:`lms.exams.content`.

Decisions the brief left open:

* Content is trusted (it was validated when the question was saved); a content that cannot be graded
  (unknown type, a choice question without correct keys, a fill-in without blanks) raises ``ValueError``
  because it is a bug to surface, not a cadre's mistake. Answers are never trusted: anything malformed
  grades as an empty answer (0), never raises.
* ``grade`` runs the answer through :func:`validate_answer_shape` first, so grading and autosave agree on
  what an answer is (an over-long blank is unusable, hence empty, in both).
* Marks are quantized to 0.01 (half-up); a derived score (half of the marks, per-option credit) is
  computed exactly and then quantized half-up; a fill-in's per-blank share is rounded *down* so the
  last blank takes the remainder and the sum is exactly the marks.
* ``detail`` holds JSON-safe values only (str, bool, list, None) so the service may store it as is.
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from lms.exams.content import PARTIAL_RULES, QUESTION_TYPES

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

OPTION_KEYS = tuple("ABCDEFGH")
MAX_TEXT = 2000
MAX_BLANKS = 20

CHOICE_TYPES = ("single", "multiple")

# Punctuation NFKC leaves alone but a cadre types interchangeably with its ASCII / other-width twin.
# NFKC already folds ，；：！？（）［］～ and full-width letters, digits and the ideographic space.
_PUNCTUATION = str.maketrans(
    {
        "、": ",",  # enumeration comma: 甲、乙 == 甲,乙 == 甲，乙
        "。": ".",
        "｡": ".",
        "“": '"',
        "”": '"',
        "„": '"',
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "‘": "'",
        "’": "'",
        "《": "<",
        "》": ">",
        "〈": "<",
        "〉": ">",
        "【": "[",
        "】": "]",
        "〔": "(",
        "〕": ")",
        "—": "-",
        "–": "-",
        "―": "-",
        "－": "-",
        "‐": "-",
        "・": "·",
        "•": "·",
        "‧": "·",
        "…": "...",
    }
)
_CJK = r"\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}]) (?=[{_CJK}])")


def normalize_text(s: str) -> str:
    """The form two answers are compared in.

    NFKC (full-width letters, digits and punctuation become half-width; the ideographic space 全角空格
    becomes a space), then the punctuation NFKC keeps distinct is folded to one form (、→, 。→. curly and
    corner quotes → straight, 《》→<>, dashes → -, middle dots → ·, … → ...), casefold, strip, runs of
    whitespace become one space, and a space *between two CJK characters* is dropped (Chinese is not
    written with spaces, so 实事 求是 == 实事求是; "New York" keeps its space).
    """
    if not isinstance(s, str):
        return ""
    s = unicodedata.normalize("NFKC", s).translate(_PUNCTUATION).casefold()
    s = " ".join(s.split())
    return _SPACE_BETWEEN_CJK.sub("", s)


@dataclass(frozen=True)
class Grade:
    score: Decimal | None  # None: needs a teacher (short_answer)
    max_score: Decimal
    correct: bool | None  # fully correct? None when ungraded
    detail: dict = field(default_factory=dict)  # safe to show in review


def _money(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        value = str(value)
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _clamp(score: Decimal, marks: Decimal) -> Decimal:
    return min(max(score.quantize(CENT, rounding=ROUND_HALF_UP), ZERO), marks)


def _correct_keys(content: dict) -> list[str]:
    correct = content.get("correct")
    if not isinstance(correct, list) or not correct or not all(isinstance(k, str) for k in correct):
        raise ValueError(f"{content.get('type')} question without correct keys")
    return sorted(set(correct))


def blank_shares(marks: Decimal, n: int) -> list[Decimal]:
    """What each of ``n`` blanks is worth: marks/n rounded down to 0.01, the remainder on the last one
    (1 mark, 3 blanks → 0.33, 0.33, 0.34)."""
    marks = _money(marks)
    if n <= 0:
        return []
    share = (marks / n).quantize(CENT, rounding=ROUND_DOWN)
    return [share] * (n - 1) + [marks - share * (n - 1)]


def grade(content: dict, answer: dict | None, marks: Decimal) -> Grade:
    """Grade one answer to one question worth ``marks``; see the module notes for the rounding."""
    qtype = content.get("type")
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"unknown question type {qtype!r}")
    marks = _money(marks)
    if marks < 0:
        raise ValueError("marks must not be negative")
    clean = validate_answer_shape(qtype, answer)

    if qtype == "short_answer":
        text = clean["text"] if clean else ""
        return Grade(None, marks, None, {"manual": True, "answered": bool(text.strip())})

    if qtype == "true_false":
        expected = content.get("correct")
        if not isinstance(expected, bool):
            raise ValueError("true_false question without a boolean correct value")
        chosen = clean["value"] if clean else None
        ok = chosen is expected
        return Grade(marks if ok else ZERO, marks, ok, {"chosen": chosen, "correct": expected})

    if qtype == "single":
        correct = _correct_keys(content)
        chosen = clean["choice"] if clean else None
        ok = chosen is not None and chosen in correct
        return Grade(marks if ok else ZERO, marks, ok, {"chosen": chosen, "correct": correct})

    if qtype == "multiple":
        return _grade_multiple(content, clean, marks)

    return _grade_fill_blank(content, clean, marks)


def _grade_multiple(content: dict, clean: dict | None, marks: Decimal) -> Grade:
    correct = _correct_keys(content)
    right_set = set(correct)
    chosen = clean["choices"] if clean else []
    chosen_set = set(chosen)
    rule = content.get("partial")
    if rule not in PARTIAL_RULES:
        rule = "all_or_nothing"
    hits = len(chosen_set & right_set)
    wrong = len(chosen_set - right_set)
    exact = chosen_set == right_set

    if exact:
        score = marks
    elif rule == "miss_half" and hits and not wrong:
        # 少选得一半: a non-empty strict subset of the correct keys, no wrong key.
        score = _clamp(marks / 2, marks)
    elif rule == "per_option":
        # +marks/n per correct key chosen, -marks/n per wrong key chosen, floor 0 (computed exactly).
        score = _clamp(marks * (hits - wrong) / len(correct), marks)
    else:
        score = ZERO
    detail = {"chosen": chosen, "correct": correct, "partial": rule}
    return Grade(score, marks, exact, detail)


def _grade_fill_blank(content: dict, clean: dict | None, marks: Decimal) -> Grade:
    blanks = content.get("blanks")
    if not isinstance(blanks, list) or not blanks:
        raise ValueError("fill_blank question without blanks")
    given = clean["blanks"] if clean else []
    shares = blank_shares(marks, len(blanks))
    results: list[bool] = []
    score = ZERO
    for i, accepted in enumerate(blanks):
        alternatives = accepted if isinstance(accepted, list) else [accepted]
        wanted = {normalize_text(a) for a in alternatives if isinstance(a, str)} - {""}
        typed = normalize_text(given[i]) if i < len(given) else ""
        ok = bool(typed) and typed in wanted
        results.append(ok)
        if ok:
            score += shares[i]
    return Grade(_clamp(score, marks), marks, all(results), {"blanks": results})


# --- what the browser sees ------------------------------------------------------------------------------


def public_content(content: dict) -> dict:
    """What an attempt page may show before review. A whitelist: type, stem, options (key and text only)
    and, for a fill-in, ``blank_count``. Nothing else (no correct keys or values, accepted answers,
    explanation, reference answer, partial-credit rule, nor any field added to the schema later)."""
    qtype = content.get("type")
    out: dict = {"type": qtype, "stem": content.get("stem", "")}
    if qtype in CHOICE_TYPES:
        out["options"] = [
            {"key": o.get("key"), "text": o.get("text", "")}
            for o in content.get("options") or []
            if isinstance(o, dict)
        ]
    elif qtype == "fill_blank":
        blanks = content.get("blanks")
        out["blank_count"] = len(blanks) if isinstance(blanks, list) else 0
    return out


def review_content(content: dict, *, show_correct: bool = True, show_explanation: bool = True) -> dict:
    """What the review page shows after submission: everything (a deep copy), or less when the test's
    review options hide the correct answers and/or the explanation."""
    out = copy.deepcopy(content)
    if not show_correct:
        for key in ("correct", "reference_answer", "partial"):
            out.pop(key, None)
        if "blanks" in out:
            blanks = out.pop("blanks")
            out["blank_count"] = len(blanks) if isinstance(blanks, list) else 0
    if not show_explanation:
        out.pop("explanation", None)
    return out


def _clean_text(value: object) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if len(text) <= MAX_TEXT else None


def _clean_key(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    key = unicodedata.normalize("NFKC", value).strip().upper()
    return key if key in OPTION_KEYS else None


def validate_answer_shape(qtype: str, answer: object) -> dict | None:
    """Clean an answer the browser autosaved into its canonical dict, or ``None`` when it is unusable.

    Canonical forms: ``{"choice": "B" | None}``, ``{"choices": [sorted unique keys]}``,
    ``{"value": True | False | None}``, ``{"blanks": [str, ...]}``, ``{"text": str}``; ``None``/empty means
    the cadre cleared the answer and is usable. Keys are A–H (lower-case and full-width accepted);
    texts lose NUL characters and get ``\\n`` line ends and must be at most 2000 characters (too long is
    unusable rather than silently cut); at most 20 blanks; a wrong type anywhere makes it unusable;
    extra fields are dropped. An unknown ``qtype`` raises ``ValueError`` (that is a caller bug).
    """
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"unknown question type {qtype!r}")
    if not isinstance(answer, dict):
        return None

    if qtype == "single":
        raw = answer.get("choice")
        if raw is None or raw == "":
            return {"choice": None}
        key = _clean_key(raw)
        return {"choice": key} if key else None

    if qtype == "multiple":
        raw = answer.get("choices")
        if raw is None:
            return {"choices": []}
        if not isinstance(raw, list) or len(raw) > len(OPTION_KEYS) * 2:
            return None
        keys = [_clean_key(k) for k in raw]
        if any(k is None for k in keys):
            return None
        return {"choices": sorted(set(keys))}  # type: ignore[arg-type]

    if qtype == "true_false":
        raw = answer.get("value")
        if raw is None or isinstance(raw, bool):
            return {"value": raw}
        return None

    if qtype == "fill_blank":
        raw = answer.get("blanks")
        if raw is None:
            return {"blanks": []}
        if not isinstance(raw, list) or len(raw) > MAX_BLANKS:
            return None
        texts = [_clean_text(b) for b in raw]
        if any(t is None for t in texts):
            return None
        return {"blanks": texts}

    text = _clean_text(answer.get("text"))
    return None if text is None else {"text": text}


# --- statistics -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemStats:
    facility: float | None  # mean fraction of the marks scored, 0..1
    discrimination: float | None  # corrected item-total correlation, -1..1
    attempts: int


def item_statistics(rows: Sequence[tuple[Decimal, Decimal, Decimal]]) -> ItemStats:
    """Classical test theory for one question over graded attempts.

    ``rows`` = (item score, item max, attempt total) per attempt; rows with a max of 0 or less are
    skipped. ``facility`` = mean(item score / item max) (None without attempts). ``discrimination`` =
    Pearson correlation between the item score and the *rest* of the attempt (total − item score): the
    corrected item-total correlation, so the item does not correlate with itself. That is what Moodle
    reports as the discrimination index (its separate "discriminative efficiency" is not computed). None
    with fewer than 2 attempts or when either side has no variance. Sums are exact (fractions), so a
    constant column is exactly zero variance.
    """
    used = [(Fraction(s), Fraction(m), Fraction(t)) for s, m, t in rows if Fraction(m) > 0]
    n = len(used)
    if n == 0:
        return ItemStats(None, None, 0)
    facility = float(sum(s / m for s, m, _ in used) / n)
    if n < 2:
        return ItemStats(facility, None, n)
    xs = [s for s, _, _ in used]
    ys = [t - s for s, _, t in used]
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return ItemStats(facility, None, n)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    r = float(sxy) / math.sqrt(float(sxx) * float(syy))
    return ItemStats(facility, max(-1.0, min(1.0, r)), n)
