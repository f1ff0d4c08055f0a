"""DuckDB's httpfs, ducklake and postgres extensions, loaded offline from the wheels that carry them.

DuckDB downloads an extension on first INSTALL; machines that reach only package registries cannot. The PyPI
packages duckdb-ext-httpfs, duckdb-ext-ducklake and duckdb-ext-postgres lay the binaries out as an extension
directory (extensions/v<duckdb version>/<platform>/<name>.duckdb_extension), so a connection whose
extension_directory points there LOADs them with no network, and INSTALL finds them already installed.
Their version pins DuckDB's (pyproject: duckdb==1.4.4, the long-term-support line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
