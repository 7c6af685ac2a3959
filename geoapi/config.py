"""Settings: defaults, overridden by ``GEOAPI_*`` environment variables, validated once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_PREFIX = "GEOAPI_"


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start, never during a request."""


@dataclass(frozen=True)
class Settings:
    """Every setting geoapi reads. Environment variable = ``GEOAPI_`` + the upper-case name."""

    # Empty: found at start (geoapi.provision): 127.0.0.1:5432, else a container.
    database_url: str = ""
    # Streaming replicas for GET reads (geoapi.db): comma-separated URLs in the form of
    # database_url, each naming the database. Empty: every read goes to the primary.
    database_replica_urls: tuple[str, ...] = ()
    # A replica that failed to connect is skipped for this long before it is tried again.
    replica_retry_after_s: float = 5.0
    # No default: `geoapi serve` and `geoapi worker` refuse to start without one (see
    # require_secret); `make run` keeps a random one in instance/secret_key.
    secret_key: str = ""
    # Fernet key (urlsafe base64, 32 bytes) for tokens at rest; derived from secret_key if empty.
    encryption_key: str = ""
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout_s: float = 10.0
    statement_timeout_ms: int = 15_000
    # A transaction left idle (a streamed export whose client stopped reading) is ended by
    # PostgreSQL after this long, so its connection goes back to the pool.
    idle_in_transaction_timeout_ms: int = 60_000
    # numberMatched is counted exactly when the count takes at most this long (and at most the
    # statement timeout; 0: never count beyond a page that holds the whole result); counts are
    # cached per query and data version.
    count_budget_ms: int = 200
    # PostGIS's high cost estimates trigger JIT, which can turn 0.1 s queries into seconds.
    jit: bool = False
    max_import_bytes: int = 64 * 1024 * 1024
    # Every other JSON body (edits, likes, tours, jobs): far smaller than any real one.
    max_body_bytes: int = 1024 * 1024
    import_max_features: int = 100_000
    # Streamed downloads (exports, pages over 1,000 features) at once per worker process: the
    # rest of its threads stay free for everything else.
    max_streams: int = 2
    # Unpinned tiles (no ?v=): cached briefly, then revalidated by their area's ETag, which
    # costs one small query; a pinned ?v= URL is immutable.
    tile_cache_control: str = "public, max-age=60, stale-while-revalidate=600"
    tile_max_features: int = 20_000
    tile_statement_timeout_ms: int = 5_000
    public_url: str = ""
    # Hosts the service answers for when GEOAPI_PUBLIC_URL is unset (Flask's TRUSTED_HOSTS);
    # empty: 127.0.0.1 and localhost only. Comma-separated; ".example.org" allows subdomains.
    trusted_hosts: str = ""
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
    mapillary_pkce: bool = True
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
        replicas = replica_urls(self.database_replica_urls)
        positive = (
            "pool_size",
            "statement_timeout_ms",
            "idle_in_transaction_timeout_ms",
            "max_import_bytes",
            "max_body_bytes",
            "max_streams",
            "import_max_features",
            "tile_max_features",
            "tile_statement_timeout_ms",
            "job_max_attempts",
            "replica_retry_after_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be > 0")
        for name in ("mapillary_max_retries", "mapillary_backoff_s", "job_retry_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be >= 0")
        if self.count_budget_ms < 0:
            raise ConfigError(f"{ENV_PREFIX}COUNT_BUDGET_MS must be >= 0 (0: never count)")
        if self.max_overflow < 0:
            raise ConfigError(f"{ENV_PREFIX}MAX_OVERFLOW must be >= 0")
        if self.mapillary_api_version not in ("v3", "v4"):
            raise ConfigError(f"{ENV_PREFIX}MAPILLARY_API_VERSION must be v3 or v4")
        if self.basemap_style_url and not _is_http_url(self.basemap_style_url):
            raise ConfigError(f"{ENV_PREFIX}BASEMAP_STYLE_URL must be an http:// or https:// URL")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"{ENV_PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return replace(
            self, database_url=with_driver(self.database_url), database_replica_urls=replicas
        )


LOCAL_HOSTS = ("127.0.0.1", "localhost")
MIN_SECRET_LENGTH = 32
KNOWN_SECRETS = frozenset({"dev-only-change-me", "change-me-in-production"})


def trusted_hosts(settings: Settings) -> list[str] | None:
    """The ``Host`` values to accept, or None for any (absolute URLs then come from
    GEOAPI_PUBLIC_URL, never from the header)."""
    listed = [host.strip() for host in settings.trusted_hosts.split(",") if host.strip()]
    if listed:
        return listed
    return None if settings.public_url else list(LOCAL_HOSTS)


def require_secret(settings: Settings) -> None:
    """ConfigError unless GEOAPI_SECRET_KEY is a real secret (serving and workers need one)."""
    key = settings.secret_key
    if not key or key in KNOWN_SECRETS or len(key) < MIN_SECRET_LENGTH:
        problem = "is not set" if not key else "is too weak"
        raise ConfigError(
            f"{ENV_PREFIX}SECRET_KEY {problem}: set it to {MIN_SECRET_LENGTH}+ random characters,"
            f" e.g. export {ENV_PREFIX}SECRET_KEY=$(python3 -c"
            ' "import secrets; print(secrets.token_urlsafe(48))")'
        )


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


REPLICAS_ENV = f"{ENV_PREFIX}DATABASE_REPLICA_URLS"


def replica_urls(value: str | Sequence[str]) -> tuple[str, ...]:
    """GEOAPI_DATABASE_REPLICA_URLS (a comma-separated string or a list) as driver URLs
    (:func:`with_driver`); ConfigError naming the entry that is not a postgresql:// URL of
    one database. Passwords never appear in the message."""
    entries = value.split(",") if isinstance(value, str) else list(value)
    if isinstance(value, str) and not value.strip():
        return ()
    urls = []
    for number, entry in enumerate(entries, start=1):
        url = entry.strip()
        where = f"{REPLICAS_ENV}: entry {number}"
        if not url:
            raise ConfigError(f"{where} is empty; give comma-separated postgresql:// URLs")
        shown = f"{where} ({redact(url)!r})"
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
            raise ConfigError(f"{shown} must be a postgresql:// URL like {ENV_PREFIX}DATABASE_URL")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked
        except ValueError:
            raise ConfigError(f"{shown} has a port that is not a number from 1 to 65535") from None
        if not parts.path.strip("/"):
            raise ConfigError(f"{shown} names no database; add /<name> (the primary's database)")
        urls.append(with_driver(url))
    return tuple(urls)


def redact(url: str) -> str:
    """``url`` without its password (for messages and /healthz)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _coerce(name: str, raw: str, default: Any) -> Any:
    env = ENV_PREFIX + name.upper()
    if isinstance(default, tuple):
        return raw  # a comma-separated list, split and checked by Settings.validate
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
