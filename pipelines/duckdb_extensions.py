"""DuckDB's httpfs, ducklake and postgres extensions, loaded offline from the wheels that carry them.

DuckDB downloads an extension on first INSTALL; machines that reach only package registries cannot. The PyPI
packages duckdb-ext-httpfs, duckdb-ext-ducklake and duckdb-ext-postgres lay the binaries out as an extension
directory (extensions/v<duckdb version>/<platform>/<name>.duckdb_extension), so a connection whose
extension_directory points there LOADs them with no network, and INSTALL finds them already installed.
Their version pins DuckDB's (pyproject: duckdb==1.4.4, the long-term-support line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import duckdb_ext

EXTENSION_DIR = Path(next(iter(duckdb_ext.__path__))) / "extensions"
# names as DuckDB's LOAD knows them (the postgres extension's binary is postgres_scanner)
EXTENSIONS = ("httpfs", "ducklake", "postgres")


def connection_config(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """DuckDB connect() options that find the wheels' extensions and never try to download one."""
    return {
        **(config or {}),
        "extension_directory": str(EXTENSION_DIR),
        "autoinstall_known_extensions": False,
    }


def connect(
    database: str = ":memory:", *, read_only: bool = False, config: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the offline extensions loadable (and autoloaded on first use)."""
    return duckdb.connect(database, read_only=read_only, config=connection_config(config))


def load(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """LOAD the named extensions on a connection made with connection_config (all three by default)."""
    for name in names or EXTENSIONS:
        con.load_extension(name)


def s3_secret_sql(env: dict[str, str] | None = None) -> str:
    """CREATE SECRET for httpfs from the standard AWS environment (the one pyarrow's S3 client reads too):
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_REGION, and AWS_ENDPOINT_URL for an
    S3-compatible store (path-style addressing, TLS as its scheme says). Without keys: the credential chain."""
    env = os.environ if env is None else env
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    options = {"region": region}
    if env.get("AWS_ACCESS_KEY_ID"):
        options |= {"key_id": env["AWS_ACCESS_KEY_ID"], "secret": env.get("AWS_SECRET_ACCESS_KEY", "")}
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    else:
        options["provider"] = "credential_chain"
    endpoint = (env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or "").strip()
    if endpoint:
        parsed = urlparse(endpoint)
        options |= {
            "endpoint": parsed.netloc + parsed.path.rstrip("/"),
            "url_style": "path",
            "use_ssl": parsed.scheme == "https",
        }
    rendered = ", ".join(
        f"{k} {str(v).lower() if isinstance(v, bool) else _quote(str(v))}" for k, v in options.items()
    )
    return f"create or replace secret levwatch_s3 (type s3, {rendered})"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def configure_lake(con: duckdb.DuckDBPyConnection, lake_url: str | None) -> None:
    """Make the lake readable on a connection: for an S3 lake, httpfs and the S3 secret; a folder needs nothing."""
    if lake_url and lake_url.startswith("s3://"):
        load(con, "httpfs")
        con.execute(s3_secret_sql())
