"""``/api/v1/reports``: unit reports rolled up the org tree."""

from __future__ import annotations

from flask import Blueprint

from lms.api.v1 import authenticate_bearer

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1/reports")
bp.before_request(authenticate_bearer)
