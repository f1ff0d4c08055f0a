"""The analysts' warehouse file: dbt builds into a private working file, then a copy is swapped in whole.

Analysts open $LEVWATCH_HOME/levwatch.duckdb read-only at any time: a DuckDB file takes one writer or many
readers, never both, so the writer (dbt) never touches the published file. A reader that opened the old file
keeps reading it; the next connection sees the new one. Nobody sees a half-built state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import duckdb


def build_path(home: Path) -> Path:
    return home / "build" / "levwatch.duckdb"


def published_path(home: Path) -> Path:
    return home / "levwatch.duckdb"


def publish(home: Path) -> Path:
    """Checkpoint the working file and atomically replace the published copy with it."""
    source = build_path(home)
    if not source.exists():
        raise FileNotFoundError(f"no warehouse has been built yet at {source}")
    with duckdb.connect(str(source)) as con:
        con.execute("checkpoint")  # fold the WAL into the file so the copy is complete on its own
    target = published_path(home)
    fd, tmp = tempfile.mkstemp(prefix=".levwatch-", suffix=".duckdb", dir=home)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def connect_read_only(home: Path) -> duckdb.DuckDBPyConnection:
    path = published_path(home)
    if not path.exists():
        raise FileNotFoundError(
            f"no published warehouse at {path}: run `make demo` or materialize the dbt assets"
        )
    return duckdb.connect(str(path), read_only=True)
