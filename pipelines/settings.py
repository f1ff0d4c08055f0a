"""LEVWATCH_* environment -> one typed settings object. The only module that reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# Real venue base URLs; each can be overridden with LEVWATCH_<VENUE>_URL.
DEFAULT_BASE_URLS: dict[str, str] = {
    "binance": "https://fapi.binance.com",
    "bybit": "https://api.bybit.com",
    "okx": "https://www.okx.com",
    "hyperliquid": "https://api.hyperliquid.xyz",
    "coinglass": "https://open-api-v4.coinglass.com",
    "farside": "https://farside.co.uk",
    "defillama": "https://api.llama.fi",
    "defillama_stablecoins": "https://stablecoins.llama.fi",
    "deribit": "https://www.deribit.com",
}

# Real websocket base URLs (liquidation streams); each can be overridden with LEVWATCH_<VENUE>_WS_URL.
DEFAULT_WS_URLS: dict[str, str] = {
    "binance": "wss://fstream.binance.com",
    "bybit": "wss://stream.bybit.com",
}

SOURCES = ("live", "sandbox")
RETENTION_MODES = ("archive", "delete")
WAREHOUSES = ("file", "ducklake")  # the published DuckDB file (default), or a DuckLake catalog on PostgreSQL
EXECUTORS = (
    "multiprocess",
    "celery",
)  # where a run's steps execute: the run's machine, or Celery workers  # what happens to a landing file once the lake holds all of it

# Files the pipeline publishes (lake partitions, landing files, the warehouse): owner read-write, group read, so
# analysts in the pipeline's group can read them without running as its user. Directories get the matching mode.
DEFAULT_FILE_MODE = 0o640


class SettingsError(ValueError):
    """A LEVWATCH_* variable has a value we cannot use."""


# The pipeline never starts a sandbox: whoever drives it (the demo, `make dev`, a test) starts one and says where.
NO_SANDBOX_URL = (
    "LEVWATCH_SOURCE=sandbox needs a running sandbox: start one with `levwatch sandbox serve` (or `make sandbox`) "
    "and set LEVWATCH_SANDBOX_URL to the URL it prints"
)


@dataclass(frozen=True)
class Settings:
    home: Path
    source: str
    base_urls: dict[str, str] = field(default_factory=dict)
    ws_urls: dict[str, str] = field(default_factory=dict)
    partitions_start: date = date(2019, 9, 1)
    sandbox_scenario: Path | None = None
    sandbox_url: str | None = None  # the running sandbox every venue points at with source 'sandbox'
    http_timeout_s: float = 10.0
    max_retries: int = 5
    landing_retention_days: int = 7  # a landing file stays this many days after the stream time it covers
    landing_retention_mode: str = "archive"  # then it is moved to landing/<venue>/archive/ (or deleted)
    recorder_max_buffered_events: int = 500_000  # per venue; the recorder stops loudly past it
    file_mode: int = DEFAULT_FILE_MODE
    # scale-out (README "Running at scale"): the Dagster instance's storage and the executor of the code location
    dagster_postgres_url: str | None = None  # run, event-log and schedule storage on PostgreSQL; else SQLite
    executor: str = "multiprocess"
    celery_broker_url: str | None = None  # required with executor celery
    celery_backend_url: str = "rpc://"  # where a worker sends a step's events back
    celery_queue: str = "dagster"  # the queue the run submits steps to and the workers consume
    lake_url: str | None = None  # file://… or s3://bucket/prefix; None: file://$LEVWATCH_HOME/lake
    warehouse: str = "file"  # the published DuckDB file, or a DuckLake catalog
    ducklake_catalog: str | None = None  # the DuckLake catalog's PostgreSQL URL, with warehouse ducklake

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def lake_location(self) -> str:
        """Where the lake is, as a URL: LEVWATCH_LAKE_URL, else today's folder under the home."""
        return self.lake_url or f"file://{self.lake_dir}"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "levwatch.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def base_url(self, venue: str) -> str:
        try:
            return self.base_urls[venue]
        except KeyError:
            raise SettingsError(f"no base URL configured for venue {venue!r}") from None

    def ws_url(self, venue: str) -> str:
        try:
            return self.ws_urls[venue]
        except KeyError:
            raise SettingsError(f"no websocket URL configured for venue {venue!r}") from None

    def ws_url_overridden(self, venue: str) -> bool:
        return self.ws_url(venue) != DEFAULT_WS_URLS[venue]


def dir_mode_for(file_mode: int) -> int:
    """A directory's mode for a file mode: whoever may read the files may also list and enter the folder."""
    return file_mode | ((file_mode & 0o444) >> 2)


def load_file_mode(env: dict[str, str] | None = None) -> int:
    """LEVWATCH_FILE_MODE, octal (e.g. 0640, 0644, 0600). The owner must keep read-write: the pipeline rewrites."""
    env = os.environ if env is None else env
    raw = (env.get("LEVWATCH_FILE_MODE") or "").strip()
    if not raw:
        return DEFAULT_FILE_MODE
    try:
        mode = int(raw.removeprefix("0o").removeprefix("0O"), 8)
    except ValueError:
        raise SettingsError(f"LEVWATCH_FILE_MODE must be an octal mode such as 0640, got {raw!r}") from None
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise SettingsError(
            f"LEVWATCH_FILE_MODE must be an octal mode from 0600 to 0777 that keeps the owner's read-write "
            f"(e.g. 0640, 0644), got {raw!r}"
        )
    return mode


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(env.get("LEVWATCH_HOME") or "./warehouse").resolve()
    source = (env.get("LEVWATCH_SOURCE") or "live").strip().lower()
    if source not in SOURCES:
        raise SettingsError(f"LEVWATCH_SOURCE must be one of {SOURCES}, got {source!r}")
    base_urls = {
        venue: env.get(f"LEVWATCH_{venue.upper()}_URL", default).rstrip("/")
        for venue, default in DEFAULT_BASE_URLS.items()
    }
    ws_urls = {
        venue: env.get(f"LEVWATCH_{venue.upper()}_WS_URL", default).rstrip("/")
        for venue, default in DEFAULT_WS_URLS.items()
    }
    start_raw = env.get("LEVWATCH_PARTITIONS_START") or "2019-09-01"
    try:
        start = date.fromisoformat(start_raw)
    except ValueError:
        raise SettingsError(f"LEVWATCH_PARTITIONS_START must be YYYY-MM-DD, got {start_raw!r}") from None
    scenario = env.get("LEVWATCH_SANDBOX_SCENARIO")
    timeout_raw = env.get("LEVWATCH_HTTP_TIMEOUT_S") or "10"
    try:
        timeout = float(timeout_raw)
    except ValueError:
        raise SettingsError(f"LEVWATCH_HTTP_TIMEOUT_S must be a number, got {timeout_raw!r}") from None
    retention_days = _int_setting(env, "LEVWATCH_LANDING_RETENTION_DAYS", 7, minimum=1)
    retention_mode = (env.get("LEVWATCH_LANDING_RETENTION") or "archive").strip().lower()
    if retention_mode not in RETENTION_MODES:
        raise SettingsError(
            f"LEVWATCH_LANDING_RETENTION must be one of {RETENTION_MODES}, got {retention_mode!r}"
        )
    max_buffered = _int_setting(env, "LEVWATCH_RECORDER_MAX_BUFFERED_EVENTS", 500_000, minimum=1)
    return Settings(
        home=home,
        source=source,
        base_urls=base_urls,
        ws_urls=ws_urls,
        partitions_start=start,
        sandbox_scenario=Path(scenario).resolve() if scenario else None,
        sandbox_url=(env.get("LEVWATCH_SANDBOX_URL") or "").rstrip("/") or None,
        http_timeout_s=timeout,
        landing_retention_days=retention_days,
        landing_retention_mode=retention_mode,
        recorder_max_buffered_events=max_buffered,
        file_mode=load_file_mode(env),
        **_scale_out_settings(env),
    )


# dagster-postgres talks to PostgreSQL through psycopg2 (it sends `%(name)s` parameters that only psycopg2
# interpolates), but SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3: every PostgreSQL URL we hand to
# SQLAlchemy (Dagster's storage, kombu's broker transport, Celery's database results) names psycopg2 explicitly.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://")
PSYCOPG2_SCHEME = "postgresql+psycopg2://"


def with_psycopg2(url: str) -> str:
    """A postgresql:// (or postgres://) URL with SQLAlchemy's psycopg2 driver named; others unchanged."""
    for prefix in ("", "sqla+", "db+"):  # plain, kombu's SQLAlchemy transport, Celery's database backend
        for scheme in _POSTGRES_SCHEMES:
            if url.startswith(prefix + scheme):
                return prefix + PSYCOPG2_SCHEME + url[len(prefix + scheme) :]
    return url


def _scale_out_settings(env: dict[str, str]) -> dict:
    postgres_url = (env.get("LEVWATCH_DAGSTER_POSTGRES_URL") or "").strip() or None
    if postgres_url and not postgres_url.startswith(_POSTGRES_SCHEMES):
        raise SettingsError(
            "LEVWATCH_DAGSTER_POSTGRES_URL must be a postgresql://user:password@host:port/database URL, "
            f"got one starting {postgres_url.split(':')[0]!r}"
        )
    executor = (env.get("LEVWATCH_EXECUTOR") or "multiprocess").strip().lower()
    if executor not in EXECUTORS:
        raise SettingsError(f"LEVWATCH_EXECUTOR must be one of {EXECUTORS}, got {executor!r}")
    broker = (env.get("LEVWATCH_CELERY_BROKER_URL") or "").strip() or None
    if executor == "celery" and broker is None:
        raise SettingsError(
            "LEVWATCH_EXECUTOR=celery needs LEVWATCH_CELERY_BROKER_URL (e.g. amqp://guest:guest@rabbitmq:5672//)"
        )
    queue = (env.get("LEVWATCH_CELERY_QUEUE") or "dagster").strip()
    if not queue or not queue.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise SettingsError(f"LEVWATCH_CELERY_QUEUE must be letters, digits, '-', '_' or '.', got {queue!r}")
    lake_url = (env.get("LEVWATCH_LAKE_URL") or "").strip().rstrip("/") or None
    if lake_url and not lake_url.startswith(("file:///", "s3://")):
        raise SettingsError(
            f"LEVWATCH_LAKE_URL must be file:///absolute/path or s3://bucket/prefix, got {lake_url!r}"
        )
    if lake_url and lake_url.startswith("s3://") and not lake_url.removeprefix("s3://").split("/")[0]:
        raise SettingsError(f"LEVWATCH_LAKE_URL must name a bucket (s3://bucket/prefix), got {lake_url!r}")
    warehouse = (env.get("LEVWATCH_WAREHOUSE") or "file").strip().lower()
    if warehouse not in WAREHOUSES:
        raise SettingsError(f"LEVWATCH_WAREHOUSE must be one of {WAREHOUSES}, got {warehouse!r}")
    catalog = (env.get("LEVWATCH_DUCKLAKE_CATALOG") or "").strip() or None
    if warehouse == "ducklake" and not (catalog and catalog.startswith(("postgresql://", "postgres://"))):
        raise SettingsError(  # the URL itself is not echoed: it may hold a password
            "LEVWATCH_WAREHOUSE=ducklake needs LEVWATCH_DUCKLAKE_CATALOG, the catalog's PostgreSQL URL "
            "(postgresql://user:password@host:port/database)"
        )
    return {
        "lake_url": lake_url,
        "warehouse": warehouse,
        "ducklake_catalog": catalog,
        "dagster_postgres_url": with_psycopg2(postgres_url) if postgres_url else None,
        "executor": executor,
        "celery_broker_url": with_psycopg2(broker) if broker else None,
        "celery_backend_url": with_psycopg2(
            (env.get("LEVWATCH_CELERY_BACKEND_URL") or "").strip() or "rpc://"
        ),
        "celery_queue": queue,
    }


def _int_setting(env: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value
