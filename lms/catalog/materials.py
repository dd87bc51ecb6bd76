"""Reading material as a lesson: a text written in the editor or a PDF kept in the object store.

A material is added to the course's working revision as a new lesson (opening a new revision of a
published course, like any edit), so it goes through review and learners see it once approved. It earns
no watch time: a course's completion counts only its recordings. Materials are never changed once
written; a PDF must really be one (its first bytes), at most 20 MB.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lms.accounts.models import Organization, User
from lms.catalog import permissions, services
from lms.catalog.errors import NotEditable
from lms.catalog.models import (
    Course,
    CourseMaterial,
    CourseRevision,
    CourseStatus,
    MaterialKind,
    RevisionStatus,
)
from lms.catalog.validation import clean_course_data, sanitize_summary
from lms.core.db import db
from lms.core.errors import NotFound, ValidationFailed
from lms.core.i18n import N_
from lms.core.permissions import require

if TYPE_CHECKING:
    from media_pipeline import ObjectStore

MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_TEXT = 50_000
PDF_MAGIC = b"%PDF-"
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class PdfUpload:
    filename: str
    data: bytes


def safe_pdf_name(name: str) -> str:
    """Letters (any script), digits, '-', '_' and '.', at most 80 characters, ending in ``.pdf``."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{_UNSAFE.sub('_', stem).strip('._')[:80] or 'material'}.pdf"


def _clean(title: str, text_html: str, pdf: PdfUpload | None) -> tuple[str, str]:
    errors: dict[str, str] = {}
    title = " ".join(unicodedata.normalize("NFC", title or "").split())
    if not title:
        errors["title"] = N_("Give the material a title.")
    elif len(title) > 200:
        errors["title"] = N_("Title is longer than 200 characters.")
    text = sanitize_summary(text_html.strip()) if text_html.strip() else ""
    has_text = bool(re.sub(r"<[^>]+>|\s|&nbsp;", "", text))
    if pdf is not None and has_text:
        errors["text_html"] = N_("Give either a text or a PDF, not both.")
    elif pdf is None and not has_text:
        errors["text_html"] = N_("Write the text or attach a PDF.")
    elif len(text) > MAX_TEXT:
        errors["text_html"] = N_("The text is longer than 50000 characters.")
    if pdf is not None:
        if not pdf.data:
            errors["pdf"] = N_("The file is empty.")
        elif len(pdf.data) > MAX_PDF_BYTES:
            errors["pdf"] = N_("The PDF is larger than 20 MB.")
        elif not pdf.data.startswith(PDF_MAGIC):
            errors["pdf"] = N_("This file is not a PDF (its content says otherwise, whatever its name).")
    if errors:
        raise ValidationFailed(fields=errors)
    return title, text


def add_material(
    *,
    actor: User,
    course: Course,
    title: str,
    text_html: str = "",
    pdf: PdfUpload | None = None,
    store: ObjectStore | None = None,
) -> CourseMaterial:
    """Add a lesson of reading material at the end of the course's working revision (opening one on a
    published course). The PDF is stored last, so a failure before it leaves nothing in the store."""
    org = db.session.get(Organization, course.org_id)
    assert org is not None
    require(permissions.can_edit(actor, course, org.path), "edit_course")
    working = course.working_revision
    if course.status == CourseStatus.ARCHIVED or (working and working.status == RevisionStatus.SUBMITTED):
        raise NotEditable()
    title, text = _clean(title, text_html, pdf)
    material = CourseMaterial(
        org_id=course.org_id,
        owner_id=actor.id,
        kind=MaterialKind.PDF if pdf is not None else MaterialKind.TEXT,
        title=title,
        text_html=text,
        filename=safe_pdf_name(pdf.filename) if pdf is not None else "",
        size=len(pdf.data) if pdf is not None else len(text.encode()),
    )
    db.session.add(material)
    db.session.flush()
    base = working or course.published_revision
    assert base is not None
    current = services.course_data_of(base).__dict__
    lesson = {"title": title, "duration_s": 0, "media_asset_id": None, "material_id": material.id}
    services.edit_course(
        actor=actor,
        course=course,
        data=clean_course_data(current | {"lessons": [*current["lessons"], lesson]}),
    )
    if pdf is not None:
        assert store is not None
        key = f"materials/{course.org_id}/{material.id}/{secrets.token_hex(8)}/{material.filename}"
        store.put(key, pdf.data, content_type="application/pdf")
        material.object_key = key
        db.session.flush()
    return material


def material_in(revisions: list[CourseRevision | None], material_id: int) -> CourseMaterial:
    """A material that one of ``revisions`` uses (a preview for the course's editors and reviewers)."""
    used = {
        lesson.get("material_id")
        for revision in revisions
        if revision is not None
        for lesson in revision.lessons
    }
    material = db.session.get(CourseMaterial, material_id) if material_id in used else None
    if material is None:
        raise NotFound()
    return material


def find_material(material_id: int | None) -> CourseMaterial | None:
    return db.session.get(CourseMaterial, material_id) if material_id and 0 < material_id < 2**31 else None
