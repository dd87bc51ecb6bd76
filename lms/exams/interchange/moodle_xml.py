"""Moodle XML question files (https://docs.moodle.org/en/Moodle_XML_format).

Read with expat directly, so each <question> keeps its line number, and with no DTD at all: a file with
a DOCTYPE or entity declaration is rejected before anything is expanded (no "billion laughs", no
external entities). Supported: category, multichoice (single or several right answers), truefalse,
shortanswer (a one-blank fill-in), essay (short answer; <graderinfo> is the reference answer). Text in
HTML (often in CDATA) becomes plain text.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.parsers import expat

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
    parse_marks,
)

SUPPORTED = ("multichoice", "truefalse", "shortanswer", "essay")
FULL = 99.99  # a fraction of 100 (Moodle writes "100" or "100.0000000")

_ENCODING = N_("Not well-formed XML: unknown encoding (save it as UTF-8).")
_EXPAT_REASONS = {
    expat.errors.XML_ERROR_TAG_MISMATCH: N_("Not well-formed XML: a closing tag does not match."),
    expat.errors.XML_ERROR_NO_ELEMENTS: N_("Not well-formed XML: the file ends before the document does."),
    expat.errors.XML_ERROR_INVALID_TOKEN: N_("Not well-formed XML: invalid character or markup."),
    expat.errors.XML_ERROR_UNCLOSED_TOKEN: N_("Not well-formed XML: unclosed tag."),
    expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION: N_("Not well-formed XML: unclosed CDATA section."),
    expat.errors.XML_ERROR_UNDEFINED_ENTITY: N_("Not well-formed XML: unknown entity (write & as &amp;)."),
    expat.errors.XML_ERROR_DUPLICATE_ATTRIBUTE: N_("Not well-formed XML: an attribute appears twice."),
    expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT: N_("Not well-formed XML: text after the closing </quiz>."),
    expat.errors.XML_ERROR_UNKNOWN_ENCODING: _ENCODING,
    expat.errors.XML_ERROR_INCORRECT_ENCODING: _ENCODING,
    expat.errors.XML_ERROR_PARTIAL_CHAR: _ENCODING,
}


class _Node:
    __slots__ = ("attrs", "children", "line", "parts", "tag")

    def __init__(self, tag: str, attrs: dict[str, str], line: int) -> None:
        self.tag = tag
        self.attrs = attrs
        self.line = line
        self.children: list[_Node] = []
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def find(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]

    def findtext(self, *path: str) -> str:
        node: _Node | None = self
        for tag in path:
            node = node.find(tag) if node is not None else None
        return node.text if node is not None else ""


class _Forbidden(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _parse(data: bytes) -> _Node:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = [_Node("", {}, 0)]

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        stack[-1].parts.append(text)

    def forbidden(*_args: object) -> None:
        raise _Forbidden(parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = forbidden
    parser.EntityDeclHandler = forbidden
    parser.ExternalEntityRefHandler = forbidden  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except _Forbidden as stop:
        raise ImportRejected(
            [RowError(stop.line, "", N_("XML with a DOCTYPE or entity declarations is not accepted."))]
        ) from None
    except expat.ExpatError as error:
        message = expat.ErrorString(error.code)  # type: ignore[arg-type]
        reason = _EXPAT_REASONS.get(message, N_("Not well-formed XML: fix the markup at this line."))
        raise ImportRejected([RowError(error.lineno, "", reason)]) from None
    return stack[0].children[0]


def _rich(node: _Node | None) -> str:
    """The text of a Moodle text element (<questiontext format="html"><text>…</text>…) as plain text."""
    if node is None:
        return ""
    raw = node.findtext("text")
    fmt = node.attrs.get("format", "html")
    if fmt == "moodle_auto_format":
        return html_to_text(raw.replace("\n", "<br>"))
    if fmt in ("plain_text", "markdown"):
        return clean_text(raw)
    return html_to_text(raw)


def _fraction(answer: _Node) -> float:
    try:
        return float(answer.attrs.get("fraction", "0"))
    except ValueError:
        return 0.0


def _marks(raw: str) -> Decimal | None:
    if not raw.strip():
        return Decimal(1)
    try:
        rounded = Decimal(raw.strip()).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return parse_marks(str(rounded))


def parse_moodle_xml(data: bytes) -> list[ImportedQuestion]:
    root = _parse(data)
    if root.tag != "quiz":
        raise ImportRejected(
            [
                RowError(
                    root.line,
                    root.tag,
                    N_("This is not a Moodle XML question file: the root element must be <quiz>."),
                )
            ]
        )
    errors: list[RowError] = []
    questions: list[ImportedQuestion] = []
    category = ""
    for element in root.findall("question"):
        qtype = element.attrs.get("type", "")
        if qtype == "category":
            category = moodle_category(element.findtext("category", "text"))
            continue
        if qtype not in SUPPORTED:
            errors.append(
                RowError(
                    element.line,
                    qtype,
                    N_(
                        "This Moodle question type is not supported: only multichoice, truefalse, "
                        "shortanswer and essay can be imported."
                    ),
                )
            )
            continue
        content = _content(qtype, element)
        problems = check_question(content)
        fields = {"stem": "questiontext", "options": "answer", "correct": "answer", "blanks": "answer"}
        errors.extend(RowError(element.line, fields.get(f, ""), r) for f, r in problems)
        marks = _marks(element.findtext("defaultgrade"))
        if marks is None:
            errors.append(
                RowError(
                    element.line,
                    "defaultgrade",
                    N_("Marks must be a positive number (at most 1000, two decimals)."),
                )
            )
        if problems or marks is None:
            continue
        tags = [tag.findtext("text") for tag in (element.find("tags") or _Node("", {}, 0)).findall("tag")]
        questions.append(
            ImportedQuestion(
                content=content,
                category=category,
                tags=clean_tags(tags),
                difficulty=None,
                marks=marks,
                external_id=clean_external_id(element.findtext("name", "text")),
                line=element.line,
            )
        )
    if errors:
        raise ImportRejected(errors)
    return drop_duplicate_ids(questions)


def _content(qtype: str, element: _Node) -> dict:  # type: ignore[type-arg]
    stem = _rich(element.find("questiontext"))
    explanation = _rich(element.find("generalfeedback"))
    answers = element.findall("answer")
    content: dict = {"type": qtype, "stem": stem}  # type: ignore[type-arg]
    if qtype == "multichoice":
        single = element.findtext("single").strip().lower() not in ("false", "0")
        options = [{"key": key, "text": _rich(a)} for key, a in zip(OPTION_KEYS, answers, strict=False)]
        if len(answers) > len(OPTION_KEYS):
            options += [{"key": "?", "text": _rich(a)} for a in answers[len(OPTION_KEYS) :]]
        if single:
            correct = [o["key"] for o, a in zip(options, answers, strict=True) if _fraction(a) >= FULL]
            content |= {"type": "single", "options": options, "correct": correct}
        else:
            correct = [o["key"] for o, a in zip(options, answers, strict=True) if _fraction(a) > 0]
            content |= {"type": "multiple", "options": options, "correct": correct, "partial": "per_option"}
    elif qtype == "truefalse":
        right = [_rich(a).strip().lower() for a in answers if _fraction(a) >= FULL]
        value = None
        if len(right) == 1 and right[0] in ("true", "false"):
            value = right[0] == "true"
        content |= {"type": "true_false", "correct": value}
    elif qtype == "shortanswer":
        accepted = [text for a in answers if _fraction(a) >= FULL and (text := _rich(a))]
        content |= {"type": "fill_blank", "stem": mark_blanks(stem), "blanks": [accepted] if accepted else []}
    else:
        content |= {"type": "short_answer", "reference_answer": _rich(element.find("graderinfo"))}
    content["explanation"] = explanation
    return content
