"""The documents the search engines index: plain, immutable data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

ORG_PATH = re.compile(r"/(?:[^/\s]+/)*")
"""A materialized org-tree path such as ``/1/4/9/``; ``/`` alone is the root (everyone)."""


def is_org_path(path: str) -> bool:
    return ORG_PATH.fullmatch(path) is not None


@dataclass(frozen=True, slots=True)
class CourseDocument:
    """One course as the catalog search sees it.

    ``visible_org_paths`` lists the org subtrees that may see the course (``/1/`` = the whole province).
    ``version`` grows with every change of the course: a write with a lower version than the stored one
    is ignored, so late or replayed index jobs cannot resurrect old data.
    A naive ``published_at`` is taken as UTC.
    """

    id: str
    title: str
    summary: str = ""
    tags: tuple[str, ...] = ()
    teachers: tuple[str, ...] = ()
    lesson_titles: tuple[str, ...] = ()
    category: str = ""
    kind: str = ""
    hours: float = 0.0
    duration_s: int = 0
    visible_org_paths: tuple[str, ...] = ()
    published_at: datetime | None = None
    popularity: int = 0
    rating: float = 0.0
    version: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("CourseDocument.id must not be empty")
        if self.version < 0:
            raise ValueError(f"course {self.id}: version must be >= 0, got {self.version}")
        bad = [path for path in self.visible_org_paths if not is_org_path(path)]
        if bad:
            raise ValueError(f"course {self.id}: not org paths: {bad}")
        if self.published_at is not None:
            published = self.published_at
            utc = published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)
            object.__setattr__(self, "published_at", utc)
