"""Evidence files of offline claims: PDF, JPEG or PNG only (checked by their first bytes, not their name),
at most 20 MB per claim, kept in the object store under ``claims/<claim id>/<random>/<safe name>``."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from lms.core.db import db, utcnow
from lms.core.errors import ValidationFailed
from lms.core.i18n import N_
from lms.reviews.models import ClaimEvidence, OfflineClaim
from media_pipeline import ObjectStore

MAX_TOTAL_BYTES = 20 * 1024 * 1024
MAX_FILES = 10

# extension -> (content type, magic prefix)
KINDS = {
    "pdf": ("application/pdf", b"%PDF-"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
}
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedUpload:
    filename: str  # safe, with the extension of what the bytes are
    content_type: str
    data: bytes


def read_uploads(files: list[Any]) -> list[Upload]:
    """Werkzeug ``FileStorage`` objects into memory (each at most the request's size limit), closed."""
    uploads = []
    for file in files:
        try:
            if file.filename:
                uploads.append(Upload(file.filename, file.read()))
        finally:
            file.close()
    return uploads


def sniff(data: bytes) -> str | None:
    """The extension the file's first bytes say it is ("pdf", "jpg", "png"), or None."""
    return next((ext for ext, (_, magic) in KINDS.items() if data.startswith(magic)), None)


def safe_filename(name: str, ext: str) -> str:
    """Letters (any script), digits, '-', '_' and '.', at most 80 characters, ending in ``.ext``."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = _UNSAFE.sub("_", stem).strip("._")[:80] or "evidence"
    return f"{stem}.{ext}"


def check_uploads(uploads: list[Upload], *, already: int = 0, already_bytes: int = 0) -> list[CheckedUpload]:
    """Every file must be a PDF, JPEG or PNG, and all of a claim's files together at most 20 MB."""
    files = [u for u in uploads if u.filename or u.data]
    if len(files) + already > MAX_FILES:
        raise ValidationFailed(N_("Attach at most 10 files."))
    if sum(len(u.data) for u in files) + already_bytes > MAX_TOTAL_BYTES:
        raise ValidationFailed(N_("The evidence files may total at most 20 MB."))
    checked = []
    for upload in files:
        ext = sniff(upload.data)
        if ext is None:
            raise ValidationFailed(N_("%(name)s is not a PDF, JPEG or PNG file."), name=upload.filename[:80])
        checked.append(CheckedUpload(safe_filename(upload.filename, ext), KINDS[ext][0], upload.data))
    return checked


def store_evidence(
    *, store: ObjectStore, claim: OfflineClaim, files: list[CheckedUpload]
) -> list[ClaimEvidence]:
    """Put the files in the object store and record them (the claim must have its id)."""
    rows = []
    for file in files:
        key = f"claims/{claim.id}/{secrets.token_hex(8)}/{file.filename}"
        store.put(key, file.data, content_type=file.content_type)
        row = ClaimEvidence(
            claim_id=claim.id,
            key=key,
            filename=file.filename,
            content_type=file.content_type,
            size=len(file.data),
            created_at=utcnow(),
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    return rows
