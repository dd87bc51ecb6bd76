"""Paper assembly: from a test's structure (slots) and the question pool to one cadre's paper,
deterministic from a seed. Pure (no framework, no database, no clock).

Decisions the brief left open:

* Fixed slots are reserved first, whatever their position, so a random slot never draws a question a
  later fixed slot names; the same question in two fixed slots is a ``ValueError``.
* Random slots are filled as a *maximum bipartite matching* (slot seats × candidates), not greedily, so
  overlapping slots ("10 from 党章党规" and "5 from 党章党规/纪律处分条例 of difficulty 3") are filled
  whenever any assignment can fill them. Questions in ``exclude`` are used only when needed: the
  matching is first grown on the other questions only, then on all (augmenting paths never drop a
  matched question, so the number of excluded questions used is the minimum).
* The pool is sorted by question id (duplicates dropped) before the seeded shuffle, so the paper does not
  depend on the order the database returned the pool in.
* Independent random streams, derived from the seed: one for the draw, one for the question order and
  one per question for its option order. Turning question shuffling on or off therefore does not change
  which questions are drawn nor their option orders, and a question's option order depends only on the
  seed and the question.
* Question shuffling is over the whole paper (not within slots); without it the paper follows the slot
  order, a random slot's questions in draw order.
* ``option_order`` is ``None`` for questions without option keys in ``option_keys`` (true_false,
  fill_blank, short_answer); without option shuffling it is the keys in their stored order.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

CENT = Decimal("0.01")


class NotEnoughQuestions(ValueError):
    """The pool cannot fill slot ``slot_index``: it needs ``needed`` questions, ``available`` could be
    given to it (after the fixed questions and what the other slots took)."""

    def __init__(self, slot_index: int, needed: int, available: int) -> None:
        super().__init__(
            f"slot {slot_index + 1} needs {needed} question(s) but only {available} are available"
        )
        self.slot_index = slot_index
        self.needed = needed
        self.available = available

    def __reduce__(self):  # keeps the exception picklable (e.g. through a task queue)
        return (type(self), (self.slot_index, self.needed, self.available))


@dataclass(frozen=True)
class Slot:
    """One line of a test's structure. Build with :meth:`fixed` / :meth:`random` for readability."""

    kind: Literal["fixed", "random"]
    question_id: int | None = None  # fixed
    category: str | None = None  # random: draw from this category (None or "" = any) ...
    difficulty: int | None = None  # ... optionally of this difficulty
    count: int = 1  # random: how many
    marks: Decimal = Decimal("1")  # marks per question

    def __post_init__(self) -> None:
        if self.kind == "fixed":
            if self.question_id is None:
                raise ValueError("a fixed slot needs a question_id")
        elif self.kind == "random":
            if self.count < 1:
                raise ValueError("a random slot draws at least one question")
        else:
            raise ValueError(f"unknown slot kind {self.kind!r}")
        if Decimal(self.marks) < 0:
            raise ValueError("marks must not be negative")

    @classmethod
    def fixed(cls, question_id: int, marks: Decimal) -> Slot:
        return cls("fixed", question_id=question_id, marks=marks)

    @classmethod
    def random(cls, category: str | None, count: int, marks: Decimal, difficulty: int | None = None) -> Slot:
        return cls("random", category=category, difficulty=difficulty, count=count, marks=marks)

    def matches(self, candidate: Candidate) -> bool:
        if self.difficulty is not None and candidate.difficulty != self.difficulty:
            return False
        return category_matches(self.category, candidate.category)

    @property
    def size(self) -> int:
        return 1 if self.kind == "fixed" else self.count


@dataclass(frozen=True)
class Candidate:
    question_id: int
    category: str
    difficulty: int | None = None


@dataclass(frozen=True)
class PaperItem:
    question_id: int
    marks: Decimal
    option_order: tuple[str, ...] | None  # option keys in presented order (None for non-choice)


def category_matches(wanted: str | None, category: str | None) -> bool:
    """Prefix match on whole "/" levels: "党章党规" matches itself and "党章党规/纪律处分条例", not
    "党章党规汇编"; None or "" matches everything. Surrounding spaces and slashes are ignored."""
    wanted = (wanted or "").strip().strip("/").strip()
    if not wanted:
        return True
    have = (category or "").strip().strip("/").strip()
    return have == wanted or have.startswith(wanted + "/")


def _rng(seed: int, purpose: str) -> random.Random:
    # A str seed is hashed with SHA-512: stable across runs and processes. Reproducible on purpose (the
    # paper is rebuilt from its seed), not a secret: the seed is never shown to the cadre.
    return random.Random(f"{seed}:{purpose}")  # noqa: S311 - reproducible shuffles, not security


def assemble(
    slots: Sequence[Slot],
    pool: Sequence[Candidate],
    option_keys: Mapping[int, Sequence[str]],
    *,
    seed: int,
    shuffle_questions: bool,
    shuffle_options: bool,
    exclude: Collection[int] = (),
) -> list[PaperItem]:
    """One paper for ``slots``; see the module notes. Raises :class:`NotEnoughQuestions`."""
    fixed_ids: set[int] = set()
    for slot in slots:
        if slot.kind == "fixed":
            if slot.question_id in fixed_ids:
                raise ValueError(f"question {slot.question_id} is in two fixed slots")
            fixed_ids.add(slot.question_id)  # type: ignore[arg-type]

    by_id: dict[int, Candidate] = {}
    for c in sorted(pool, key=lambda c: c.question_id):
        if c.question_id not in fixed_ids:
            by_id.setdefault(c.question_id, c)
    excluded = set(exclude)
    order = list(by_id)
    _rng(seed, "draw").shuffle(order)
    # Preference order for every seat: questions of the previous attempt last.
    order.sort(key=lambda qid: qid in excluded)  # stable: keeps the shuffle within each group

    random_slots = [i for i, s in enumerate(slots) if s.kind == "random"]
    adjacency: dict[int, list[int]] = {}
    for i in random_slots:
        adjacency[i] = [qid for qid in order if slots[i].matches(by_id[qid])]
        if len(adjacency[i]) < slots[i].count:
            raise NotEnoughQuestions(i, slots[i].count, len(adjacency[i]))

    seats = [i for i in random_slots for _ in range(slots[i].count)]
    drawn = _match(seats, adjacency, excluded)
    for seat, slot_index in enumerate(seats):
        if seat not in drawn:
            got = sum(1 for s, i in enumerate(seats) if i == slot_index and s in drawn)
            raise NotEnoughQuestions(slot_index, slots[slot_index].count, got)

    chosen: list[tuple[int, Decimal]] = []
    seat_iter = iter(range(len(seats)))
    for slot in slots:
        marks = Decimal(slot.marks).quantize(CENT, rounding=ROUND_HALF_UP)
        if slot.kind == "fixed":
            chosen.append((slot.question_id, marks))  # type: ignore[arg-type]
        else:
            chosen.extend((drawn[next(seat_iter)], marks) for _ in range(slot.count))

    if shuffle_questions:
        _rng(seed, "order").shuffle(chosen)

    items = []
    for qid, marks in chosen:
        keys = option_keys.get(qid)
        option_order = tuple(keys) if keys else None
        if option_order and shuffle_options:
            shuffled = list(option_order)
            _rng(seed, f"options:{qid}").shuffle(shuffled)
            option_order = tuple(shuffled)
        items.append(PaperItem(qid, marks, option_order))
    return items


def _match(seats: list[int], adjacency: Mapping[int, list[int]], excluded: set[int]) -> dict[int, int]:
    """Maximum matching seat -> question (seat ``s`` belongs to slot ``seats[s]``), by BFS augmenting
    paths; first with the non-excluded questions only, then with all of them."""
    seat_of: dict[int, int] = {}  # question -> seat
    question_of: dict[int, int] = {}  # seat -> question

    def augment(root: int, allow_excluded: bool) -> bool:
        reached_from: dict[int, int] = {}  # question -> the seat whose edge reached it
        queue = deque([root])
        while queue:
            seat = queue.popleft()
            for qid in adjacency[seats[seat]]:
                if qid in reached_from or (not allow_excluded and qid in excluded):
                    continue
                reached_from[qid] = seat
                if qid in seat_of:
                    queue.append(seat_of[qid])
                    continue
                while True:  # free question found: flip the path back to the root
                    owner = reached_from[qid]
                    previous = question_of.get(owner)
                    question_of[owner] = qid
                    seat_of[qid] = owner
                    if owner == root:
                        return True
                    qid = previous  # type: ignore[assignment]
        return False

    for allow_excluded in (False, True):
        for seat in range(len(seats)):
            if seat not in question_of:
                augment(seat, allow_excluded)
    return question_of


def total_marks(items: Iterable[PaperItem]) -> Decimal:
    return sum((Decimal(i.marks) for i in items), Decimal("0")).quantize(CENT, rounding=ROUND_HALF_UP)
