"""Field rules for accounts, shared by forms, the JSON API and bulk import.

Each ``clean_*`` returns the normalized value or raises ``FieldError`` with an English message id.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TypeVar

from lms.accounts.models import (
    CADRE_CATEGORY_LABELS,
    ORG_KIND_LABELS,
    RANK_LABELS,
    CadreCategory,
    OrgKind,
    Rank,
)
from lms.core.i18n import N_

LOGIN_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
PHONE_RE = re.compile(r"^(?:\+?\d{1,3}[- ]?)?\d{7,14}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class FieldError(ValueError):
    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def _text(value: object) -> str:
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if CONTROL_RE.search(text):
        raise FieldError(N_("Contains control characters."))
    return text


def clean_login_name(value: object) -> str:
    text = _text(value).lower()
    if not text:
        raise FieldError(N_("Login name is required."))
    if not LOGIN_NAME_RE.match(text):
        raise FieldError(
            N_("Login name must be 2-64 letters, digits or . _ @ - and start with a letter or digit.")
        )
    return text


def clean_display_name(value: object) -> str:
    text = _text(value)
    if not text:
        raise FieldError(N_("Name is required."))
    if len(text) > 64:
        raise FieldError(N_("Name is longer than 64 characters."))
    return text


def clean_org_name(value: object) -> str:
    text = _text(value)
    if not text:
        raise FieldError(N_("Name is required."))
    if len(text) > 100:
        raise FieldError(N_("Name is longer than 100 characters."))
    if "/" in text:
        raise FieldError(N_("Name cannot contain '/'."))
    return text


def clean_org_code(value: object) -> str | None:
    text = _text(value).upper()
    if not text:
        return None
    if not re.fullmatch(r"[A-Z0-9_-]{1,32}", text):
        raise FieldError(N_("Code must be up to 32 letters, digits, _ or -."))
    return text


def clean_phone(value: object) -> str | None:
    text = _text(value).replace(" ", "")
    if not text:
        return None
    if not PHONE_RE.match(text):
        raise FieldError(N_("Phone number is not valid."))
    return text


E = TypeVar("E", Rank, CadreCategory, OrgKind)


def _enum_choice(value: object, enum_type: type[E], labels: dict[E, str], message_id: str) -> E | None:
    text = _text(value)
    if not text:
        return None
    for member in enum_type:
        if text in (member.value, labels[member]):
            return member
    raise FieldError(message_id)


def clean_rank(value: object) -> Rank | None:
    return _enum_choice(value, Rank, RANK_LABELS, N_("Unknown rank."))


def clean_cadre_category(value: object) -> CadreCategory | None:
    return _enum_choice(value, CadreCategory, CADRE_CATEGORY_LABELS, N_("Unknown cadre category."))


def clean_org_kind(value: object) -> OrgKind:
    kind = _enum_choice(value, OrgKind, ORG_KIND_LABELS, N_("Unknown organization kind."))
    if kind is None:
        raise FieldError(N_("Organization kind is required."))
    return kind


def check_password(password: str, *, login_name: str = "") -> None:
    if len(password) < 8:
        raise FieldError(N_("Password must be at least 8 characters."))
    if len(password) > 128:
        raise FieldError(N_("Password is longer than 128 characters."))
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise FieldError(N_("Password must contain both letters and digits."))
    if login_name and password.lower() == login_name.lower():
        raise FieldError(N_("Password must not be the same as the login name."))
