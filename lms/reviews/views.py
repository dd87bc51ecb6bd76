"""Web pages for offline training claims."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("claims", __name__, url_prefix="/claims")
