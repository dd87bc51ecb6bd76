"""Question banks: who may use and manage them, writing questions (each edit is a new version), and the
all-or-nothing imports (xlsx template, GIFT, Moodle XML) that update rather than duplicate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import admin_scope, is_teacher
from lms.audit.services import record
from lms.core.db import db
from lms.core.errors import NotFound, PermissionDenied, ValidationFailed
from lms.core.i18n import N_
from lms.exams.content import QUESTION_TYPES, check_content
from lms.exams.interchange import ImportedQuestion, fingerprint, parse_questions
from lms.exams.models import Question, QuestionBank, QuestionVersion

MAX_ID = 2**31 - 1


def _org_path(org_id: int | None) -> str | None:
    if org_id is None:
        return None
    return db.session.scalar(select(Organization.path).where(Organization.id == org_id))


def can_manage(actor: User, bank: QuestionBank) -> bool:
    path = _org_path(bank.org_id)
    return bank.owner_id == actor.id or (path is not None and admin_scope(actor).covers_path(path))


def can_use(actor: User, bank: QuestionBank) -> bool:
    """Teachers and admins in the bank's org subtree use an org bank; a teacher's own bank is theirs."""
    if can_manage(actor, bank):
        return True
    path = _org_path(bank.org_id)
    return (
        path is not None
        and actor.org.path.startswith(path)
        and (is_teacher(actor) or admin_scope(actor).is_admin)
    )


def usable_banks(actor: User) -> list[QuestionBank]:
    ancestors = [int(p) for p in actor.org.path.strip("/").split("/") if p]
    rows = db.session.scalars(
        select(QuestionBank)
        .where(or_(QuestionBank.owner_id == actor.id, QuestionBank.org_id.in_(ancestors or [0])))
        .order_by(QuestionBank.name)
    )
    scope = admin_scope(actor)
    managed = []
    if scope.is_admin:
        stmt = select(QuestionBank, Organization.path).join(
            Organization, Organization.id == QuestionBank.org_id
        )
        managed = [bank for bank, path in db.session.execute(stmt) if scope.covers_path(path)]
    seen: dict[int, QuestionBank] = {}
    for bank in [*rows, *managed]:
        if can_use(actor, bank):
            seen.setdefault(bank.id, bank)
    return sorted(seen.values(), key=lambda b: b.name)


def get_bank(actor: User, bank_id: int, *, manage: bool = False) -> QuestionBank:
    bank = db.session.get(QuestionBank, bank_id) if 0 < bank_id <= MAX_ID else None
    if bank is None or not (can_manage(actor, bank) if manage else can_use(actor, bank)):
        raise NotFound()
    return bank


def find_bank_by_name(actor: User, name: str) -> QuestionBank | None:
    for bank in usable_banks(actor):
        if bank.name == name and can_manage(actor, bank):
            return bank
    return None


def create_bank(
    *, actor: User, name: object, org_id: object = None, description: object = ""
) -> QuestionBank:
    if not (is_teacher(actor) or admin_scope(actor).is_admin):
        raise PermissionDenied(N_("Only teachers and administrators keep question banks."))
    title = str(name or "").strip()[:100]
    if not title:
        raise ValidationFailed(fields={"name": N_("A name is required.")})
    org = None
    if org_id is not None:
        org = db.session.get(Organization, org_id) if isinstance(org_id, int) else None
        if org is None or not admin_scope(actor).covers(org):
            raise PermissionDenied(N_("Only an administrator of that unit can keep a bank for it."))
    exists = db.session.scalar(
        select(QuestionBank.id).where(
            QuestionBank.name == title,
            QuestionBank.owner_id == actor.id,
            QuestionBank.org_id.is_(None) if org is None else QuestionBank.org_id == org.id,
        )
    )
    if exists:
        raise ValidationFailed(fields={"name": N_("You already have a bank with this name.")})
    bank = QuestionBank(
        name=title,
        org_id=org.id if org else None,
        owner_id=actor.id,
        description=str(description or "")[:500],
    )
    db.session.add(bank)
    db.session.flush()
    record(
        actor=actor,
        action="bank.create",
        target_type="question_bank",
        target_id=bank.id,
        target_label=title,
        org_path=org.path if org else actor.org.path,
        after={"name": title, "org_id": bank.org_id},
    )
    return bank


def _validate_content(content: dict[str, Any]) -> None:
    """The same checks the imports make, for questions written in the editor or the API."""
    problems = check_content(content)
    if problems:
        raise ValidationFailed(fields={"content": problems[0]})


def _new_version(question: Question, content: dict[str, Any], marks: Decimal, actor: User | None) -> None:
    number = 1 + (
        db.session.scalar(
            select(QuestionVersion.number)
            .where(QuestionVersion.question_id == question.id)
            .order_by(QuestionVersion.number.desc())
            .limit(1)
        )
        or 0
    )
    version = QuestionVersion(
        question_id=question.id,
        number=number,
        content=content,
        marks=marks,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(version)
    db.session.flush()
    question.current_version_id = version.id


def save_question(
    *, actor: User, bank: QuestionBank, data: dict[str, Any], question: Question | None = None
) -> Question:
    """Create a question or edit one (a new version: attempts already taken keep theirs)."""
    if not can_manage(actor, bank):
        raise NotFound()
    content = data.get("content")
    if not isinstance(content, dict) or content.get("type") not in QUESTION_TYPES:
        raise ValidationFailed(fields={"content": N_("Unknown question type.")})
    _validate_content(content)
    try:
        marks = Decimal(str(data.get("marks", "1"))).quantize(Decimal("0.01"))
        if not Decimal("0") < marks <= Decimal("100"):
            raise ValueError
    except (ArithmeticError, ValueError) as error:
        raise ValidationFailed(fields={"marks": N_("Marks must be above 0 and at most 100.")}) from error
    imported = ImportedQuestion(
        content=content,
        category=str(data.get("category") or "")[:200],
        tags=tuple(str(t)[:30] for t in (data.get("tags") or [])[:12]),
        difficulty=data.get("difficulty") if data.get("difficulty") in (1, 2, 3, 4, 5) else None,
        marks=marks,
        external_id=None,
        line=0,
    )
    if question is None:
        question = Question(bank_id=bank.id, type=content["type"])
        db.session.add(question)
    elif question.type != content["type"]:
        raise ValidationFailed(
            fields={"content": N_("A question keeps its type; write a new question instead.")}
        )
    _apply(question, imported)
    db.session.flush()
    _new_version(question, content, marks, actor)
    return question


def _apply(question: Question, item: ImportedQuestion) -> None:
    question.fingerprint = fingerprint(item)
    question.category = item.category
    question.tags = list(item.tags)
    question.difficulty = item.difficulty
    if item.external_id:
        question.external_id = item.external_id


def import_questions(*, actor: User, bank: QuestionBank, filename: str, data: bytes) -> dict[str, int]:
    """All or nothing: a bad row rejects the file (ImportRejected with every problem). A question already
    in the bank (same 题号/title, or same content) is updated with a new version only if it changed."""
    if not can_manage(actor, bank):
        raise NotFound()
    items = parse_questions(filename, data)
    by_external = {
        q.external_id: q
        for q in db.session.scalars(
            select(Question).where(Question.bank_id == bank.id, Question.external_id.is_not(None))
        )
    }
    by_fingerprint = {
        q.fingerprint: q for q in db.session.scalars(select(Question).where(Question.bank_id == bank.id))
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in items:
        existing = by_external.get(item.external_id) if item.external_id else None
        existing = existing or by_fingerprint.get(fingerprint(item))
        if existing is not None and existing.type == item.content["type"]:
            current = db.session.get(QuestionVersion, existing.current_version_id)
            if current is not None and current.content == item.content and current.marks == item.marks:
                _apply(existing, item)
                counts["unchanged"] += 1
                continue
            _apply(existing, item)
            _new_version(existing, item.content, item.marks, actor)
            counts["updated"] += 1
            continue
        question = Question(bank_id=bank.id, type=item.content["type"])
        _apply(question, item)
        db.session.add(question)
        db.session.flush()
        _new_version(question, item.content, item.marks, actor)
        by_fingerprint[question.fingerprint] = question
        if item.external_id:
            by_external[item.external_id] = question
        counts["created"] += 1
    record(
        actor=actor,
        action="bank.import",
        target_type="question_bank",
        target_id=bank.id,
        target_label=bank.name,
        org_path=_org_path(bank.org_id) or actor.org.path,
        after={"file": filename[:200], **counts},
    )
    return counts


def bank_questions(bank: QuestionBank) -> list[tuple[Question, QuestionVersion]]:
    rows = db.session.execute(
        select(Question, QuestionVersion)
        .join(QuestionVersion, QuestionVersion.id == Question.current_version_id)
        .where(Question.bank_id == bank.id, Question.is_archived.is_(False))
        .order_by(Question.id)
    ).all()
    return [(question, version) for question, version in rows]


def export_bank(bank: QuestionBank) -> bytes:
    from lms.exams.interchange import export_xlsx

    return export_xlsx(
        ImportedQuestion(
            content=version.content,
            category=question.category,
            tags=tuple(question.tags),
            difficulty=question.difficulty,
            marks=Decimal(version.marks),
            external_id=question.external_id,
            line=0,
        )
        for question, version in bank_questions(bank)
    )
