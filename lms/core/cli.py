"""Helpers for click commands."""

from __future__ import annotations

from typing import NoReturn

import click
from flask_babel import gettext

from lms.core.errors import LmsError


def fail(error: LmsError) -> NoReturn:
    """End a command on a domain error with its Chinese message and exit code 1, not a traceback."""
    details = "；".join(gettext(text) for text in error.fields.values())
    message = gettext(error.message_id, **error.params)
    raise click.ClickException(f"{message}{'（' + details + '）' if details else ''}")
