"""One settings object, read from ``LMS_*`` environment variables and validated at start-up.

This is the only module that reads ``os.environ`` for the app.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("development", "production", "test")
STORAGE_BACKENDS = ("local", "minio")
MEDIA_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
SEARCH_BACKENDS = ("embedded", "elasticsearch")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ValueError):
    """A bad ``LMS_*`` value. The message names the variable and what was expected."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}: expected one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}: expected a number from {minimum} to {maximum}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower() or default
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    secret_key: str = field(default="", repr=False)
    instance_dir: Path = Path("instance")
    database_url: str = ""
    storage_backend: str = "local"
    storage_dir: Path = Path("instance/objects")
    minio_endpoint: str = ""
    minio_access_key: str = ""
    minio_secret_key: str = field(default="", repr=False)
    minio_bucket: str = "lms"
    minio_secure: bool = False
    search_backend: str = "embedded"
    search_path: Path = Path("instance/search.sqlite")
    elasticsearch_url: str = ""
    search_index_prefix: str = "lms_"
    celery_broker_url: str = ""
    celery_always_eager: bool = False
    token_ttl_hours: int = 168
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    login_ip_max_failures: int = 100
    session_cookie_secure: bool = False
    max_upload_mb: int = 20
    proxy_hops: int = 0
    # Media (the browser uploads straight to MinIO; these bound what the server accepts)
    minio_public_endpoint: str = ""  # host:port browsers use for presigned URLs (default: the endpoint)
    minio_public_secure: bool = False
    media_max_upload_mb: int = 8192  # one lecture file
    media_quota_gb: int = 50  # per teacher, originals counted
    media_max_duration_minutes: int = 240
    media_url_ttl_hours: int = 12  # presigned segment URLs outlive a viewing with pauses
    media_preset: str = "veryfast"
    # Learning hours (the rules engine's policy; see lms/learning/rules.py)
    playback_max_rate_percent: int = 100  # 100 = 1.0x: faster playback earns no more than real time
    heartbeat_interval_s: int = 15
    completion_percent: int = 95  # share of the ffprobe duration a lesson needs to be complete
    challenge_min_minutes: int = 10  # presence checks at random between min and max; 0 turns them off
    challenge_max_minutes: int = 20
    daily_cap_hours: int = 0  # online 学时 a cadre may earn per day; 0 = no cap
    pdf_font: str = ""  # a CJK font file for PDFs (default: Noto CJK from Debian's fonts-noto-cjk, found)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        unknown = sorted(k for k in env if k.startswith("LMS_") and k not in KNOWN_VARIABLES)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_VARIABLES))}"
            )
        mode = _choice(env, "LMS_ENV", "development", ENVIRONMENTS)
        instance_dir = Path(_str(env, "LMS_INSTANCE_DIR", "instance")).resolve()
        secret_key = _str(env, "LMS_SECRET_KEY")
        if not secret_key:
            if mode == "production":
                raise SettingsError("LMS_SECRET_KEY: required in production (a long random string)")
            secret_key = _dev_secret(instance_dir) if mode == "development" else "test-secret-key"
        elif len(secret_key) < 16:
            raise SettingsError("LMS_SECRET_KEY: must be at least 16 characters")

        database_url = _str(env, "LMS_DATABASE_URL") or f"sqlite:///{instance_dir / 'lms.sqlite'}"
        if not database_url.startswith(("sqlite:", "postgresql")):
            raise SettingsError(
                f"LMS_DATABASE_URL: expected sqlite:///… or postgresql+psycopg://…, got {database_url!r}"
            )

        storage_backend = _choice(env, "LMS_STORAGE_BACKEND", "local", STORAGE_BACKENDS)
        search_backend = _choice(env, "LMS_SEARCH_BACKEND", "embedded", SEARCH_BACKENDS)
        settings = cls(
            env=mode,
            secret_key=secret_key,
            instance_dir=instance_dir,
            database_url=database_url,
            storage_backend=storage_backend,
            storage_dir=Path(_str(env, "LMS_STORAGE_DIR") or instance_dir / "objects"),
            minio_endpoint=_str(env, "LMS_MINIO_ENDPOINT"),
            minio_access_key=_str(env, "LMS_MINIO_ACCESS_KEY"),
            minio_secret_key=_str(env, "LMS_MINIO_SECRET_KEY"),
            minio_bucket=_str(env, "LMS_MINIO_BUCKET", "lms") or "lms",
            minio_secure=_bool(env, "LMS_MINIO_SECURE", False),
            search_backend=search_backend,
            search_path=Path(_str(env, "LMS_SEARCH_PATH") or instance_dir / "search.sqlite"),
            elasticsearch_url=_str(env, "LMS_ELASTICSEARCH_URL"),
            search_index_prefix=_str(env, "LMS_SEARCH_INDEX_PREFIX", "lms_") or "lms_",
            celery_broker_url=_str(env, "LMS_CELERY_BROKER_URL")
            or f"sqla+sqlite:///{instance_dir / 'celery-broker.sqlite'}",
            celery_always_eager=_bool(env, "LMS_CELERY_ALWAYS_EAGER", False),
            token_ttl_hours=_int(env, "LMS_TOKEN_TTL_HOURS", 168, minimum=1, maximum=24 * 90),
            login_max_failures=_int(env, "LMS_LOGIN_MAX_FAILURES", 5, minimum=1, maximum=100),
            login_lockout_minutes=_int(env, "LMS_LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60),
            login_ip_max_failures=_int(env, "LMS_LOGIN_IP_MAX_FAILURES", 100, minimum=1, maximum=100_000),
            session_cookie_secure=_bool(env, "LMS_SESSION_COOKIE_SECURE", mode == "production"),
            max_upload_mb=_int(env, "LMS_MAX_UPLOAD_MB", 20, minimum=1, maximum=10_240),
            proxy_hops=_int(env, "LMS_PROXY_HOPS", 0, minimum=0, maximum=5),
            minio_public_endpoint=_str(env, "LMS_MINIO_PUBLIC_ENDPOINT"),
            minio_public_secure=_bool(env, "LMS_MINIO_PUBLIC_SECURE", _bool(env, "LMS_MINIO_SECURE", False)),
            media_max_upload_mb=_int(
                env, "LMS_MEDIA_MAX_UPLOAD_MB", 8192, minimum=1, maximum=5 * 1024 * 1024
            ),
            media_quota_gb=_int(env, "LMS_MEDIA_QUOTA_GB", 50, minimum=1, maximum=100_000),
            media_max_duration_minutes=_int(
                env, "LMS_MEDIA_MAX_DURATION_MINUTES", 240, minimum=1, maximum=24 * 60
            ),
            media_url_ttl_hours=_int(env, "LMS_MEDIA_URL_TTL_HOURS", 12, minimum=1, maximum=7 * 24 - 1),
            media_preset=_choice(env, "LMS_MEDIA_PRESET", "veryfast", MEDIA_PRESETS),
            playback_max_rate_percent=_int(
                env, "LMS_PLAYBACK_MAX_RATE_PERCENT", 100, minimum=50, maximum=400
            ),
            heartbeat_interval_s=_int(env, "LMS_HEARTBEAT_INTERVAL_S", 15, minimum=5, maximum=120),
            completion_percent=_int(env, "LMS_COMPLETION_PERCENT", 95, minimum=50, maximum=100),
            challenge_min_minutes=_int(env, "LMS_CHALLENGE_MIN_MINUTES", 10, minimum=0, maximum=600),
            challenge_max_minutes=_int(env, "LMS_CHALLENGE_MAX_MINUTES", 20, minimum=0, maximum=600),
            daily_cap_hours=_int(env, "LMS_DAILY_CAP_HOURS", 0, minimum=0, maximum=24),
            pdf_font=_str(env, "LMS_PDF_FONT"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.storage_backend == "minio":
            missing = [
                name
                for name, value in (
                    ("LMS_MINIO_ENDPOINT", self.minio_endpoint),
                    ("LMS_MINIO_ACCESS_KEY", self.minio_access_key),
                    ("LMS_MINIO_SECRET_KEY", self.minio_secret_key),
                )
                if not value
            ]
            if missing:
                raise SettingsError(f"LMS_STORAGE_BACKEND=minio needs {', '.join(missing)}")
            if "://" in self.minio_endpoint:
                raise SettingsError(
                    f"LMS_MINIO_ENDPOINT: expected host:port without a scheme, got {self.minio_endpoint!r}"
                )
        if self.search_backend == "elasticsearch" and not self.elasticsearch_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                "LMS_SEARCH_BACKEND=elasticsearch needs LMS_ELASTICSEARCH_URL=http(s)://host:port, "
                f"got {self.elasticsearch_url!r}"
            )
        if not self.celery_broker_url.startswith(("redis://", "rediss://", "sqla+", "memory://")):
            raise SettingsError(
                "LMS_CELERY_BROKER_URL: expected redis://…, sqla+sqlite:///… or memory://, "
                f"got {self.celery_broker_url!r}"
            )


def _dev_secret(instance_dir: Path) -> str:
    """A development secret kept in the instance folder, so sessions survive restarts."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


KNOWN_VARIABLES = frozenset(
    {
        "LMS_ENV",
        "LMS_SECRET_KEY",
        "LMS_INSTANCE_DIR",
        "LMS_DATABASE_URL",
        "LMS_TEST_DATABASE_URL",
        "LMS_STORAGE_BACKEND",
        "LMS_STORAGE_DIR",
        "LMS_MINIO_ENDPOINT",
        "LMS_MINIO_ACCESS_KEY",
        "LMS_MINIO_SECRET_KEY",
        "LMS_MINIO_BUCKET",
        "LMS_MINIO_SECURE",
        "LMS_SEARCH_BACKEND",
        "LMS_SEARCH_PATH",
        "LMS_ELASTICSEARCH_URL",
        "LMS_SEARCH_INDEX_PREFIX",
        "LMS_CELERY_BROKER_URL",
        "LMS_CELERY_ALWAYS_EAGER",
        "LMS_TOKEN_TTL_HOURS",
        "LMS_LOGIN_MAX_FAILURES",
        "LMS_LOGIN_LOCKOUT_MINUTES",
        "LMS_LOGIN_IP_MAX_FAILURES",
        "LMS_SESSION_COOKIE_SECURE",
        "LMS_MAX_UPLOAD_MB",
        "LMS_PROXY_HOPS",
        "LMS_MINIO_PUBLIC_ENDPOINT",
        "LMS_MINIO_PUBLIC_SECURE",
        "LMS_MEDIA_MAX_UPLOAD_MB",
        "LMS_MEDIA_QUOTA_GB",
        "LMS_MEDIA_MAX_DURATION_MINUTES",
        "LMS_MEDIA_URL_TTL_HOURS",
        "LMS_MEDIA_PRESET",
        "LMS_PLAYBACK_MAX_RATE_PERCENT",
        "LMS_HEARTBEAT_INTERVAL_S",
        "LMS_COMPLETION_PERCENT",
        "LMS_CHALLENGE_MIN_MINUTES",
        "LMS_CHALLENGE_MAX_MINUTES",
        "LMS_DAILY_CAP_HOURS",
        "LMS_PDF_FONT",
        # read by the tooling around the app (scripts/services.sh, tests, make), not by the app
        "LMS_REQUIRE_SERVICES",
        "LMS_PORT",
        "LMS_SERVICES_CACHE",
        "LMS_SERVICES_DIR",
        "LMS_SERVICES_USER",
        "LMS_SERVICES_TIMEOUT",
        "LMS_PG_PORT",
        "LMS_PG_BIN",
        "LMS_REDIS_PORT",
        "LMS_MINIO_PORT",
        "LMS_MINIO_CONSOLE_PORT",
        "LMS_MINIO_VERSION",
        "LMS_ES_PORT",
        "LMS_ES_TRANSPORT_PORT",
        "LMS_ES_VERSION",
        "LMS_ES_JDK",
        "LMS_ES_HEAP",
        "LMS_GO",
        "LMS_PYTHON",
    }
)
