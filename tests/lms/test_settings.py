from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lms.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LMS_LOGIN_MAX_FAILURES": "abc"}, "LMS_LOGIN_MAX_FAILURES: expected a whole number, got 'abc'"),
        ({"LMS_LOGIN_MAX_FAILURES": "0"}, "LMS_LOGIN_MAX_FAILURES: expected a number from 1 to 100, got 0"),
        ({"LMS_ENV": "staging"}, "LMS_ENV: expected one of development, production, test"),
        ({"LMS_MINIO_SECURE": "maybe"}, "LMS_MINIO_SECURE: expected one of 1/0/true/false"),
        ({"LMS_DATABASE_URL": "mysql://x"}, "LMS_DATABASE_URL: expected sqlite"),
        ({"LMS_STORAGE_BACKEND": "minio"}, "LMS_STORAGE_BACKEND=minio needs LMS_MINIO_ENDPOINT"),
        ({"LMS_SEARCH_BACKEND": "elasticsearch"}, "needs LMS_ELASTICSEARCH_URL"),
        ({"LMS_CELERY_BROKER_URL": "amqp://x"}, "LMS_CELERY_BROKER_URL: expected redis"),
        ({"LMS_ENV": "production"}, "LMS_SECRET_KEY: required in production"),
        ({"LMS_SECRET_KEY": "short"}, "LMS_SECRET_KEY: must be at least 16 characters"),
        ({"LMS_DATABSE_URL": "sqlite://"}, "unknown setting(s) LMS_DATABSE_URL"),
    ],
)
def test_bad_settings_name_the_variable_and_the_problem(tmp_path, env, message):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"LMS_INSTANCE_DIR": str(tmp_path), "LMS_ENV": "test"} | env)
    assert message in str(error.value)


def test_defaults_are_the_embedded_services(tmp_path):
    settings = Settings.from_env({"LMS_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'lms.sqlite'}"
    assert (settings.storage_backend, settings.search_backend) == ("local", "embedded")
    assert settings.celery_broker_url.startswith("sqla+sqlite:///")
    assert (tmp_path / "secret_key").read_text() == settings.secret_key  # stable across restarts


def test_the_server_refuses_to_start_with_a_bad_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_")}
    env |= {"LMS_INSTANCE_DIR": str(tmp_path), "LMS_TOKEN_TTL_HOURS": "forever"}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "LMS_TOKEN_TTL_HOURS: expected a whole number, got 'forever'" in result.stderr
    assert "Traceback" not in result.stderr
