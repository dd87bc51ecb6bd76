"""Imports every model module so the metadata is complete (migrations, ``create_all`` in tools)."""

from lms.accounts import models as accounts_models
from lms.audit import models as audit_models
from lms.catalog import models as catalog_models
from lms.discovery import models as discovery_models
from lms.exams import models as exams_models
from lms.learning import models as learning_models
from lms.media import models as media_models
from lms.reports import models as reports_models
from lms.reviews import models as reviews_models

__all__ = [
    "accounts_models",
    "audit_models",
    "catalog_models",
    "discovery_models",
    "exams_models",
    "learning_models",
    "media_models",
    "reports_models",
    "reviews_models",
]
