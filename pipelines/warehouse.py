"""The analysts' warehouse file: dbt builds into a private working file, then a copy is swapped in whole.

Analysts open $LEVWATCH_HOME/levwatch.duckdb read-only at any time: a DuckDB file takes one writer or many
readers, never both, so the writer (dbt) never touches the published file. A reader that opened the old file
keeps reading it; the next connection sees the new one. Nobody sees a half-built state. A publisher killed mid-copy
leaves only its temp file, named with its pid; the next publish removes the temps of publishers no longer alive.

With LEVWATCH_WAREHOUSE=ducklake the warehouse is a DuckLake catalog on PostgreSQL (LEVWATCH_DUCKLAKE_CATALOG),
its data files under the lake. dbt writes into it directly; every commit is a snapshot, and publishing records the
build's last snapshot in levwatch.main.published_snapshots. Readers attach the catalog read-only at that snapshot,
so they never see a build in progress, and publishing copies nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipelines import duckdb_extensions
from pipelines.files import atomic_write
from pipelines.settings import Settings, load_settings

DUCKLAKE_ALIAS = "levwatch"  # the catalog name the dbt views were built under (the file warehouse's name too)
PUBLISHED = f"{DUCKLAKE_ALIAS}.main.published_snapshots"


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


def ducklake_data_path(settings: Settings) -> str:
    """Where the DuckLake catalog keeps its data files: under the lake (its folder or its S3 prefix)."""
    return settings.lake_location.removeprefix("file://") + "/ducklake/"


def attach_ducklake(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, read_only: bool, snapshot: int | None = None
) -> None:
    """Attach the DuckLake catalog as `levwatch` (read-only and pinned to a snapshot for readers)."""
    duckdb_extensions.load(con)
    duckdb_extensions.configure_lake(con, settings.lake_url)
    options = [f"data_path '{ducklake_data_path(settings)}'"]
    if read_only:
        options.append("read_only")
    if snapshot is not None:
        options.append(f"snapshot_version {int(snapshot)}")
    con.execute(
        f"attach 'ducklake:postgres:{settings.ducklake_catalog}' as {DUCKLAKE_ALIAS} ({', '.join(options)})"
    )


def publish_ducklake(settings: Settings) -> int:
    """Record the catalog's latest snapshot as the published one: readers move to it on their next connection.
    Nothing is copied; the snapshot's files stay where dbt wrote them."""
    with duckdb_extensions.connect() as con:
        attach_ducklake(con, settings, read_only=False)
        con.execute(f"create table if not exists {PUBLISHED} (snapshot_id bigint, published_at timestamptz)")
        (snapshot,) = con.execute(f"select max(snapshot_id) from {DUCKLAKE_ALIAS}.snapshots()").fetchone()
        con.execute(f"insert into {PUBLISHED} values (?, now())", [snapshot])
    return snapshot


def published_snapshot(settings: Settings) -> int:
    with duckdb_extensions.connect() as con:
        try:
            attach_ducklake(con, settings, read_only=True)
        except duckdb.InvalidInputException as exc:  # no catalog there yet
            raise FileNotFoundError(f"no DuckLake warehouse at LEVWATCH_DUCKLAKE_CATALOG: {exc}") from exc
        found = con.execute(
            "select count(*) from duckdb_tables() where database_name = ? and schema_name = 'main'"
            " and table_name = 'published_snapshots'",
            [DUCKLAKE_ALIAS],
        ).fetchone()[0]
        snapshot = con.execute(f"select max(snapshot_id) from {PUBLISHED}").fetchone()[0] if found else None
    if snapshot is None:
        raise FileNotFoundError(
            "the DuckLake warehouse has never been published: materialize the dbt assets first"
        )
    return snapshot


def connect_ducklake_read_only(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The DuckLake warehouse as of its last publish, read-only: a build running now is invisible to it."""
    snapshot = published_snapshot(settings)
    con = duckdb_extensions.connect()
    try:
        attach_ducklake(con, settings, read_only=True, snapshot=snapshot)
        con.execute(f"use {DUCKLAKE_ALIAS}")
        con.execute("set TimeZone = 'UTC'")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


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
    statement that is not a query. With LEVWATCH_WAREHOUSE=ducklake: the DuckLake catalog at its published
    snapshot (connect_ducklake_read_only; its data files may sit on S3, so no folder fence there)."""
    settings = load_settings()
    if settings.warehouse == "ducklake":
        return connect_ducklake_read_only(settings)
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
