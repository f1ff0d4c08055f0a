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


def connect_read_only(home: Path) -> duckdb.DuckDBPyConnection:
    path = published_path(home)
    if not path.exists():
        raise FileNotFoundError(
            f"no published warehouse at {path}: run `make demo` or materialize the dbt assets"
        )
    return duckdb.connect(str(path), read_only=True)
