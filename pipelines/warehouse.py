"""The analysts' warehouse file: dbt builds into a private working file, then a copy is swapped in whole.

Analysts open $LEVWATCH_HOME/levwatch.duckdb read-only at any time: a DuckDB file takes one writer or many
readers, never both, so the writer (dbt) never touches the published file. A reader that opened the old file
keeps reading it; the next connection sees the new one. Nobody sees a half-built state. A publisher killed mid-copy
leaves only its temp file, named with its pid; the next publish removes the temps of publishers no longer alive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipelines.files import atomic_write


def build_path(home: Path) -> Path:
    return home / "build" / "levwatch.duckdb"


def published_path(home: Path) -> Path:
    return home / "levwatch.duckdb"


def publish(home: Path, *, mode: int | None = None) -> Path:
    """Checkpoint the working file and atomically replace the published copy with it, readable by the group
    (LEVWATCH_FILE_MODE, default 0640) so analysts need not run as the pipeline's user."""
    source = build_path(home)
    if not source.exists():
        raise FileNotFoundError(f"no warehouse has been built yet at {source}")
    with duckdb.connect(str(source)) as con:
        con.execute("checkpoint")  # fold the WAL into the file so the copy is complete on its own

    def copy(fh) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, fh, length=8 << 20)

    return atomic_write(published_path(home), copy, mode=mode)


class AnalystQueryRefused(ValueError):
    """A statement an analyst connection does not run: only queries (SELECT, EXPLAIN) are allowed."""


# DuckDB's own parser names each statement's type; anything else (COPY, EXPORT, ATTACH, SET, INSTALL, CREATE …)
# could write a file or change what the connection may touch.
QUERY_STATEMENT_TYPES = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


def connect_read_only(home: Path) -> duckdb.DuckDBPyConnection:
    """The published warehouse, read-only and fenced in: no file outside the warehouse and the lake can be read
    or written, and the fence cannot be lifted from SQL.

    Staging views read the lake's parquet at query time, so the lake stays readable. DuckDB's allowed_directories
    grants writing as well as reading, so SQL from elsewhere goes through run_analyst_query, which refuses every
    statement that is not a query."""
    path = published_path(home)
    if not path.exists():
        raise FileNotFoundError(
            f"no published warehouse at {path}: run `make demo` or materialize the dbt assets"
        )
    con = duckdb.connect(str(path), read_only=True)
    try:
        # the order matters: allowed_directories can only be set on a started database, before the lock
        lakes = sorted({f"{home / 'lake'}/", f"{home.resolve() / 'lake'}/"})  # as the views name it, and real
        con.execute("set allowed_directories = ?", [lakes])
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_analyst_query(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation | None:
    """Run SQL typed by an analyst: queries only, each statement checked by DuckDB's parser before any runs."""
    statements = con.extract_statements(query)
    refused = [s for s in statements if s.type not in QUERY_STATEMENT_TYPES]
    if not statements or refused:
        kinds = ", ".join(sorted({s.type.name for s in refused})) or "nothing"
        raise AnalystQueryRefused(
            f"only queries (SELECT, EXPLAIN) run against the published warehouse; got {kinds}"
        )
    return con.sql(query)
