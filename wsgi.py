"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import sys

from lms.app import create_app
from lms.settings import SettingsError

try:
    app = create_app()
except SettingsError as error:
    sys.exit(f"配置错误 (bad setting): {error}")
