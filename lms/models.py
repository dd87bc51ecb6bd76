"""Imports every model module so the metadata is complete (migrations, ``create_all`` in tools)."""

from lms.accounts import models as accounts_models
from lms.audit import models as audit_models

__all__ = ["accounts_models", "audit_models"]
