"""Tests that need a real service (PostgreSQL, Redis, MinIO, Elasticsearch, ffmpeg).

Locally such a test skips when its service is absent, and the session ends with a loud summary
of what was skipped. With ``LMS_REQUIRE_SERVICES=1`` (CI) the same test fails instead: in CI
nothing that needs a real service may quietly skip.
"""

from __future__ import annotations

import os

import pytest

REQUIRED = os.environ.get("LMS_REQUIRE_SERVICES") == "1"
SKIP_PREFIX = "[service unavailable]"


def need_service(service: str, *, available: bool, why: str = "") -> None:
    """Skip (locally) or fail (CI) the calling test unless ``available``."""
    if available:
        return
    message = f"{service}: {why or 'not configured'}"
    if REQUIRED:
        pytest.fail(f"LMS_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(f"{SKIP_PREFIX} {message}")


def env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None
