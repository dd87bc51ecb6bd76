"""The stored shape of a question and of an answer (JSON), shared by the bank, imports, grading and the
attempt pages. A question version's ``content`` never changes once an attempt used it.

Question ``content`` by ``type``::

    single       {"type": "single", "stem": str, "options": [{"key": "A", "text": str}, ...],
                  "correct": ["B"], "explanation": str}
    multiple     {"type": "multiple", "stem": str, "options": [...], "correct": ["A", "C"],
                  "partial": "all_or_nothing" | "miss_half" | "per_option", "explanation": str}
    true_false   {"type": "true_false", "stem": str, "correct": true, "explanation": str}
    fill_blank   {"type": "fill_blank", "stem": str (blanks shown as ＿＿ or ___ or {{1}}),
                  "blanks": [["accepted", "also accepted"], ["second blank"]], "explanation": str}
    short_answer {"type": "short_answer", "stem": str, "reference_answer": str, "explanation": str}

Answer by type::

    single {"choice": "B"}   multiple {"choices": ["A", "C"]}   true_false {"value": true}
    fill_blank {"blanks": ["…", "…"]}   short_answer {"text": "…"}

Option keys are stable letters (A, B, C…); shuffling changes only the order they are shown in.
"""

QUESTION_TYPES = ("single", "multiple", "true_false", "fill_blank", "short_answer")
PARTIAL_RULES = ("all_or_nothing", "miss_half", "per_option")

OPTION_KEYS = tuple("ABCDEFGH")


def check_content(content: dict) -> list[str]:  # type: ignore[type-arg]
    """Problems with a question written in the editor or the API (English message ids; empty: fine)."""
    from lms.core.i18n import N_

    kind = content.get("type")
    stem = content.get("stem")
    if kind not in QUESTION_TYPES:
        return [N_("Unknown question type.")]
    if not isinstance(stem, str) or not stem.strip() or len(stem) > 5000:
        return [N_("The question text is required (at most 5000 characters).")]
    if not isinstance(content.get("explanation", ""), str):
        return [N_("The explanation must be text.")]
    if kind in ("single", "multiple"):
        options = content.get("options")
        correct = content.get("correct")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= len(OPTION_KEYS)
            or [o.get("key") if isinstance(o, dict) else None for o in options]
            != list(OPTION_KEYS[: len(options)])
            or not all(isinstance(o.get("text"), str) and o["text"].strip() for o in options)
        ):
            return [N_("Give 2 to 8 options, lettered from A, each with text.")]
        keys = {o["key"] for o in options}
        if (
            not isinstance(correct, list)
            or not correct
            or not set(correct) <= keys
            or len(set(correct)) != len(correct)
        ):
            return [N_("Mark the correct option(s) among the options.")]
        if kind == "single" and len(correct) != 1:
            return [N_("A single-choice question needs exactly one correct option.")]
        if kind == "multiple" and content.get("partial", "all_or_nothing") not in PARTIAL_RULES:
            return [N_("Unknown scoring rule for a multiple-choice question.")]
    elif kind == "true_false":
        if not isinstance(content.get("correct"), bool):
            return [N_("Say whether the statement is true or false.")]
    elif kind == "fill_blank":
        blanks = content.get("blanks")
        if (
            not isinstance(blanks, list)
            or not 1 <= len(blanks) <= 20
            or not all(
                isinstance(b, list) and b and all(isinstance(a, str) and a.strip() for a in b) for b in blanks
            )
        ):
            return [N_("A fill-in-the-blank question needs at least one accepted answer per blank.")]
    elif not isinstance(content.get("reference_answer", ""), str):
        return [N_("The reference answer must be text.")]
    return []
