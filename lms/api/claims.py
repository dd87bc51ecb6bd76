"""``/api/v1`` for offline training claims and their review."""

from __future__ import annotations

from flask import Blueprint

from lms.api.v1 import authenticate_bearer

bp = Blueprint("api_claims", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_bearer)
