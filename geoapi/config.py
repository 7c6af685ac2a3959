"""Settings: defaults, overridden by ``GEOAPI_*`` environment variables, validated once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "GEOAPI_"


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start, never during a request."""


@dataclass(frozen=True)
class Settings:
    """Every setting geoapi reads. Environment variable = ``GEOAPI_`` + the upper-case name."""

    # Empty: found at start (geoapi.provision): 127.0.0.1:5432, else a container.
    database_url: str = ""
    secret_key: str = "dev-only-change-me"  # noqa: S105 - set GEOAPI_SECRET_KEY in production
    # Fernet key (urlsafe base64, 32 bytes) for tokens at rest; derived from secret_key if empty.
    encryption_key: str = ""
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout_s: float = 10.0
    statement_timeout_ms: int = 15_000
    # PostGIS's high cost estimates trigger JIT, which can turn 0.1 s queries into seconds.
    jit: bool = False
    max_import_bytes: int = 64 * 1024 * 1024
    import_max_features: int = 100_000
    tile_cache_control: str = "public, max-age=3600"
    tile_max_features: int = 20_000
    tile_statement_timeout_ms: int = 5_000
    public_url: str = ""
    # A MapLibre style URL (http or https) drawn under geoapi's layers by /style.json and /map;
    # empty: the bundled Natural Earth basemap, which needs no internet.
    basemap_style_url: str = ""
    mapillary_client_id: str = ""
    mapillary_client_secret: str = ""
    mapillary_api_v3_url: str = "https://a.mapillary.com"
    mapillary_api_v4_url: str = "https://graph.mapillary.com"
    mapillary_authorize_url: str = "https://www.mapillary.com/connect"
    mapillary_token_url: str = "https://graph.mapillary.com/token"  # noqa: S105
    mapillary_api_version: str = "v4"
    mapillary_timeout_s: float = 10.0
    mapillary_max_retries: int = 3
    mapillary_backoff_s: float = 0.5
    mapillary_max_retry_after_s: float = 30.0
    jobs_inline: bool = False
    job_max_attempts: int = 3
    job_retry_delay_s: float = 30.0
    # A running job whose worker has not finished it by then is taken to have crashed.
    job_stale_after_s: float = 900.0
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> Settings:
        """Check ranges and formats (ConfigError naming the variable); return the settings with
        a plain ``postgresql://`` URL bound to the driver geoapi installs (psycopg2)."""
        if self.database_url and not self.database_url.startswith(("postgresql", "postgres")):
            raise ConfigError(f"{ENV_PREFIX}DATABASE_URL must be a postgresql:// URL")
        positive = (
            "pool_size",
            "statement_timeout_ms",
            "max_import_bytes",
            "import_max_features",
            "tile_max_features",
            "tile_statement_timeout_ms",
            "job_max_attempts",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be > 0")
        for name in ("mapillary_max_retries", "mapillary_backoff_s", "job_retry_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be >= 0")
        if self.max_overflow < 0:
            raise ConfigError(f"{ENV_PREFIX}MAX_OVERFLOW must be >= 0")
        if self.mapillary_api_version not in ("v3", "v4"):
            raise ConfigError(f"{ENV_PREFIX}MAPILLARY_API_VERSION must be v3 or v4")
        if self.basemap_style_url and not _is_http_url(self.basemap_style_url):
            raise ConfigError(f"{ENV_PREFIX}BASEMAP_STYLE_URL must be an http:// or https:// URL")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"{ENV_PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return replace(self, database_url=with_driver(self.database_url))


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and url.strip() == url


def with_driver(url: str) -> str:
    """``postgresql://`` (or ``postgres://``) → ``postgresql+psycopg2://``: SQLAlchemy 2.1 takes
    a plain scheme to mean psycopg 3, which geoapi does not install. Other URLs unchanged."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def _coerce(name: str, raw: str, default: Any) -> Any:
    env = ENV_PREFIX + name.upper()
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{env} must be true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{env} must be an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{env} must be a number, got {raw!r}") from None
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings from defaults, then the environment, then explicit overrides; validate."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings) if f.name != "extra"}
    for name in known:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw, getattr(settings, name))
    extra: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        name = key.lower()
        if name in known:
            values[name] = value
        else:
            extra[key] = value
    return replace(settings, **values, extra=extra).validate()
