"""What every question file format reads into, and the checks they share.

A parsed question is an :class:`ImportedQuestion` whose ``content`` has exactly the stored shape of
``lms.exams.content``. :func:`check_question` gives the problems with one (field, English message id) so
each reader can report them against its own column or element; :func:`fingerprint` identifies a
question by its normalized content for de-duplication when the file gives it no id.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser

from lms.core.i18n import N_
from lms.exams import content as content_rules

OPTION_KEYS = tuple("ABCDEFGH")
MAX_QUESTIONS = 10_000
MAX_STEM = 5000
MAX_BLANKS = 20
MAX_MARKS = Decimal(1000)

# Blanks in a fill-in stem: ＿＿ (any run of full-width low lines), ___ (two or more), () / （）, {{1}}.
BLANK_MARK = re.compile(r"＿+|_{2,}|\(\s*\)|（[\s\u3000]*）|\{\{\d+\}\}")
EMPTY_PARENS = re.compile(r"\(\s*\)|（[\s\u3000]*）")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ImportedQuestion:
    content: dict  # type: ignore[type-arg]  # exactly the lms.exams.content shape for its type
    category: str  # "" when none; levels joined with "/"
    tags: tuple[str, ...]
    difficulty: int | None  # 1..5
    marks: Decimal
    external_id: str | None  # xlsx 题号 / GIFT ::title:: / Moodle <name>
    line: int  # xlsx row or text line where the question starts


# --- normalizing ---------------------------------------------------------------------------------


def _normal(value: object) -> object:
    if isinstance(value, str):
        return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def fingerprint(q: ImportedQuestion) -> str:
    """A stable hash of the question's type and content, NFKC-normalized with whitespace collapsed, so
    the same question typed with full-width letters or extra spaces is recognised as the same."""
    body = json.dumps(_normal(q.content), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def clean_text(value: str) -> str:
    """Text as stored: Windows/Mac line ends made \\n, control characters dropped, trimmed."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value).strip()


def nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def clean_category(path: str) -> str:
    levels = [level.strip() for level in re.split(r"[/／]", clean_text(path))]
    return "/".join(level for level in levels if level)


def clean_tags(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        tag = clean_text(value)
        if tag:
            seen.setdefault(tag[:64], None)
    return tuple(seen)


def moodle_category(path: str) -> str:
    """A Moodle category path ("$course$/top/党章党规/纪律处分条例") as "党章党规/纪律处分条例": the context
    prefix and the "top" level dropped; "//" (Moodle's escaped slash inside a name) kept as "／"."""
    path = re.sub(r"^\$[a-z]+\$/?", "", clean_text(path))
    levels = [level.strip().replace("\ue010", "／") for level in path.replace("//", "\ue010").split("/")]
    levels = [level for level in levels if level]
    if levels and levels[0] == "top":
        levels = levels[1:]
    return "/".join(levels)


def clean_external_id(value: str) -> str | None:
    """An id from the file, whitespace collapsed; over 64 characters it is shortened with a hash of the
    whole so it stays unique and stable."""
    value = _SPACES.sub(" ", clean_text(value))
    if len(value) > 64:
        value = value[:47] + "#" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
    return value or None


def drop_duplicate_ids(questions: list[ImportedQuestion]) -> list[ImportedQuestion]:
    """GIFT titles and Moodle names are often not unique (Moodle derives them from the question text):
    an id used by more than one question in the file identifies none of them, so they are matched by
    content instead."""
    counts: dict[str, int] = {}
    for q in questions:
        if q.external_id is not None:
            counts[q.external_id] = counts.get(q.external_id, 0) + 1
    return [
        replace(q, external_id=None) if q.external_id is not None and counts[q.external_id] > 1 else q
        for q in questions
    ]


def parse_marks(value: object) -> Decimal | None:
    """A positive number of marks with at most two decimals (≤ 1000), or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(nfkc(str(value)))
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0 or number > MAX_MARKS:
        return None
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    number = number.normalize()
    if -number.as_tuple().exponent > 2:  # type: ignore[operator]
        return None
    return number


def blank_count(stem: str) -> int:
    return len(BLANK_MARK.findall(stem))


def mark_blanks(stem: str) -> str:
    """Empty brackets marking blanks become ＿＿, the marker the attempt pages show an input for."""
    return EMPTY_PARENS.sub("＿＿", stem)


# --- HTML -> text --------------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol",
    "dd", "dt", "section", "article", "header", "footer",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript", "iframe", "object"}
_BREAK = "\x00"


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self.parts.append(_BREAK)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_BREAK)
            if tag == "pre":
                self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCK_TAGS:
            self.parts.append(_BREAK)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_BREAK)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.parts.append(data.replace("\n", _BREAK))
        else:
            self.parts.append(re.sub(r"[\r\n\t]+", " ", data))


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: tags dropped (scripts and styles with their content), entities
    unescaped, a line break for <br> and block elements (<p>, <div>, <li>…), spaces collapsed."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = (re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split(_BREAK))
    return clean_text("\n".join(line for line in lines if line))


# --- checks --------------------------------------------------------------------------------------


def check_question(content: dict, *, stem_markers: bool = True) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """Problems with a parsed question as (field, English message id); field is one of "type", "stem",
    "options", "correct", "blanks", "partial". Empty when the question can be stored."""
    problems: list[tuple[str, str]] = []
    kind = content.get("type")
    if kind not in content_rules.QUESTION_TYPES:
        return [("type", N_("Unknown question type."))]
    stem = content.get("stem", "")
    if not stem:
        problems.append(("stem", N_("The question text is missing.")))
    elif len(stem) > MAX_STEM:
        problems.append(("stem", N_("The question text is required (at most 5000 characters).")))
    if kind in ("single", "multiple"):
        options = content.get("options", [])
        texts = [o["text"] for o in options]
        keys = [o["key"] for o in options]
        if len(options) > len(OPTION_KEYS):
            problems.append(("options", N_("Options A–H only.")))
        elif len(options) < 2:
            problems.append(("options", N_("A choice question needs at least two options.")))
        elif not all(texts):
            problems.append(("options", N_("An option's text is empty.")))
        elif len({_normal(t) for t in texts}) != len(texts):
            problems.append(("options", N_("Two options have the same text.")))
        correct = content.get("correct", [])
        if not set(correct) <= set(keys):
            problems.append(("correct", N_("The answer names an option that is empty or missing.")))
        elif kind == "single" and len(correct) != 1:
            problems.append(("correct", N_("A single-choice question needs exactly one correct option.")))
        elif kind == "multiple" and not correct:
            problems.append(("correct", N_("A multiple-choice question needs at least one correct option.")))
        if kind == "multiple" and content.get("partial") not in content_rules.PARTIAL_RULES:
            problems.append(("partial", N_("Unknown scoring rule for a multiple-choice question.")))
    elif kind == "true_false":
        if not isinstance(content.get("correct"), bool):
            problems.append(("correct", N_("Say whether the statement is true or false.")))
    elif kind == "fill_blank":
        blanks = content.get("blanks", [])
        if not blanks or not all(blanks):
            problems.append(
                (
                    "blanks",
                    N_("A fill-in-the-blank question needs at least one accepted answer per blank."),
                )
            )
        elif len(blanks) > MAX_BLANKS:
            problems.append(("blanks", N_("A fill-in-the-blank question has at most 20 blanks.")))
        elif stem_markers and stem:
            marked = blank_count(stem)
            if marked != len(blanks) and not (marked == 0 and len(blanks) == 1):
                problems.append(
                    (
                        "blanks",
                        N_(
                            "The number of blanks in the question text (＿＿, ___ or （）) does not match "
                            "the number of answers (separate blanks with ||)."
                        ),
                    )
                )
    if not problems:
        # The editor's own rules, in case they are stricter than the ones above.
        checker = getattr(content_rules, "check_content", None)
        if checker is not None:
            problems.extend(("", reason) for reason in checker(content))
    return problems
