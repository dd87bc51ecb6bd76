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
