"""Moodle GIFT text files (https://docs.moodle.org/en/GIFT_format).

Questions are separated by blank lines. Read: ``// comments`` (with Moodle's ``[id:…]`` and ``[tag:…]``
in them), ``$CATEGORY: path``, ``::title::``, the ``[html]``/``[moodle]``/``[markdown]``/``[plain]``
format markers, the escapes ``\\: \\# \\= \\~ \\{ \\} \\\\ \\n``, single choice ``{=right ~wrong}``,
several right answers by weight ``{~%50%a ~%50%b ~%-100%c}``, true/false ``{T}``/``{FALSE}``, short
answer ``{=a =b}`` (a one-blank fill-in; only 100% answers are accepted ones), essay ``{}``, and the
general feedback ``####text`` (the explanation). Per-answer feedback ``#…`` is dropped. Matching and
numerical questions, and questions without an answer block, are rejected.
"""

from __future__ import annotations

import re
from decimal import Decimal

from lms.core.i18n import N_
from lms.core.tabular import ImportRejected, RowError
from lms.exams.interchange.model import (
    OPTION_KEYS,
    ImportedQuestion,
    check_question,
    clean_external_id,
    clean_tags,
    clean_text,
    drop_duplicate_ids,
    html_to_text,
    mark_blanks,
    moodle_category,
)

_ESCAPES = {"\\": "\ue000", ":": "\ue001", "#": "\ue002", "=": "\ue003", "~": "\ue004"}
_ESCAPES |= {"{": "\ue005", "}": "\ue006", "n": "\ue007"}
_UNESCAPE = {v: ("\n" if k == "n" else k) for k, v in _ESCAPES.items()}
_ESCAPE = re.compile(r"\\([\\:#=~{}n])")
_FORMAT = re.compile(r"^\s*\[(html|moodle|markdown|plain)\]", re.IGNORECASE)
_TITLE = re.compile(r"^\s*::(.*?)::", re.DOTALL)
_META = re.compile(r"\[(id|tag):([^\]]*)\]")
_TRUE_FALSE = re.compile(r"(T|TRUE|F|FALSE)\s*(#.*)?", re.IGNORECASE | re.DOTALL)
_WEIGHT = re.compile(r"^\s*%(-?\d+(?:\.\d+)?)%")
_BLANK = "\ue010"  # where the answer block sat, when text follows it ("missing word" format)


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRejected([RowError(0, "", N_("The file encoding is not recognised: save it as UTF-8."))])


def _unescape(text: str) -> str:
    for placeholder, char in _UNESCAPE.items():
        text = text.replace(placeholder, char)
    return text


def _to_text(raw: str, fmt: str) -> str:
    match = _FORMAT.match(raw)
    if match:
        fmt = match.group(1).lower()
        raw = raw[match.end() :]
    text = _unescape(raw)
    if fmt == "html":
        return html_to_text(text)
    return clean_text("\n".join(line.strip() for line in text.split("\n")))


def _blocks(text: str) -> list[tuple[int, list[str], dict[str, list[str]]]]:
    """(first line number, lines, metadata from the comments before it) of each blank-line-separated
    block; comment lines are dropped."""
    blocks: list[tuple[int, list[str], dict[str, list[str]]]] = []
    lines: list[str] = []
    start = 0
    meta: dict[str, list[str]] = {"id": [], "tag": []}
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            for key, value in _META.findall(stripped):
                meta[key].append(value)
            continue
        if not stripped:
            if lines:
                blocks.append((start, lines, meta))
                lines, meta = [], {"id": [], "tag": []}
            continue
        if not lines:
            start = number
        lines.append(line)
    if lines:
        blocks.append((start, lines, meta))
    return blocks


def parse_gift(data: bytes) -> list[ImportedQuestion]:
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    errors: list[RowError] = []
    questions: list[ImportedQuestion] = []
    category = ""
    for start, lines, meta in _blocks(text):
        if lines[0].strip().upper().startswith("$CATEGORY:"):
            category = moodle_category(lines[0].strip()[len("$CATEGORY:") :])
            lines = lines[1:]
            start += 1
            if not lines:
                continue
        body = _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], "\n".join(lines))
        title_match = _TITLE.match(body)
        title = _unescape(title_match.group(1)) if title_match else ""
        column = f"::{clean_text(title)}::" if title_match else ""
        if title_match:
            body = body[title_match.end() :]
        try:
            content = _question(body)
        except _Reject as problem:
            errors.append(RowError(start, column, problem.reason))
            continue
        problems = check_question(content)
        if problems:
            errors.extend(RowError(start, column, reason) for _field, reason in problems)
            continue
        external_id = clean_external_id(meta["id"][-1]) if meta["id"] else clean_external_id(title)
        questions.append(
            ImportedQuestion(
                content=content,
                category=category,
                tags=clean_tags(meta["tag"]),
                difficulty=None,
                marks=Decimal(1),
                external_id=external_id,
                line=start,
            )
        )
    if errors:
        raise ImportRejected(errors)
    return drop_duplicate_ids(questions)


def _question(body: str) -> dict:  # type: ignore[type-arg]
    opening, closing = body.find("{"), body.find("}")
    if opening == -1:
        if closing != -1:
            raise _Reject(N_("Unexpected } in the GIFT text: write \\} for a literal brace."))
        raise _Reject(N_("This GIFT question has no answer block {…}."))
    if closing != -1 and closing < opening:
        raise _Reject(N_("Unexpected } in the GIFT text: write \\} for a literal brace."))
    if closing == -1:
        raise _Reject(N_("Unclosed { in the GIFT text."))
    answers = body[opening + 1 : closing]
    if "{" in answers:
        raise _Reject(N_("Unclosed { in the GIFT text."))
    after = body[closing + 1 :]
    if "{" in after or "}" in after:
        raise _Reject(N_("Only one answer block {…} per GIFT question."))

    before = body[:opening]
    match = _FORMAT.match(before)
    fmt = match.group(1).lower() if match else "moodle"
    if match:
        before = before[match.end() :]
    stem = _to_text(before + (_BLANK + after if after.strip() else ""), fmt)
    stem = stem.replace(_BLANK, "＿＿")

    answers, _, feedback = answers.partition("####")
    explanation = _to_text(feedback, fmt)
    answers = answers.strip()
    content: dict = {"type": "", "stem": stem}  # type: ignore[type-arg]

    if not answers:
        content |= {"type": "short_answer", "reference_answer": ""}
    elif truth := _TRUE_FALSE.fullmatch(answers):
        content |= {"type": "true_false", "correct": truth.group(1).upper() in ("T", "TRUE")}
    elif answers.startswith("#"):
        raise _Reject(N_("Numerical GIFT questions ({#…}) are not supported."))
    elif "->" in answers:
        raise _Reject(N_("Matching GIFT questions (->) are not supported."))
    elif answers[0] not in "=~":
        raise _Reject(N_("Start each answer in the braces with = (right) or ~ (wrong)."))
    else:
        tokens = []
        for token in re.split(r"(?=[=~])", answers):
            if not token.strip():
                continue
            mark, rest = token[0], token[1:]
            weight_match = _WEIGHT.match(rest)
            weight = float(weight_match.group(1)) if weight_match else None
            if weight_match:
                rest = rest[weight_match.end() :]
            text = _to_text(rest.split("#", 1)[0], fmt)
            tokens.append((mark, weight, text))
        if any(mark == "~" for mark, _w, _t in tokens):
            if len(tokens) > len(OPTION_KEYS):
                raise _Reject(N_("Options A–H only."))
            options = [{"key": OPTION_KEYS[i], "text": t} for i, (_m, _w, t) in enumerate(tokens)]
            right = [OPTION_KEYS[i] for i, (mark, _w, _t) in enumerate(tokens) if mark == "="]
            if right:
                content |= {"type": "single", "options": options, "correct": right}
            else:
                correct = [OPTION_KEYS[i] for i, (_m, w, _t) in enumerate(tokens) if w is not None and w > 0]
                content |= {"type": "multiple", "options": options, "correct": correct}
                content["partial"] = "per_option"
        else:
            accepted = [t for _m, w, t in tokens if t and (w is None or w >= 100)]
            content |= {"type": "fill_blank", "blanks": [accepted] if accepted else []}
            content["stem"] = mark_blanks(stem)
    content["explanation"] = explanation
    return content
