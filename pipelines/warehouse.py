"""The analysts' warehouse file: dbt builds into a private working file, then a copy is swapped in whole.

Analysts open $LEVWATCH_HOME/levwatch.duckdb read-only at any time: a DuckDB file takes one writer or many
readers, never both, so the writer (dbt) never touches the published file. A reader that opened the old file
keeps reading it; the next connection sees the new one. Nobody sees a half-built state. A publisher killed mid-copy
leaves only its temp file, named with its pid; the next publish removes the temps of publishers no longer alive.
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
    sweep_orphaned_temps(home)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".duckdb", dir=home)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(home)  # the rename itself survives a power cut
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


TEMP_PREFIX = ".levwatch-publish-"  # + the publisher's pid + "-": whose temp it is, should it be killed


def sweep_orphaned_temps(home: Path) -> list[Path]:
    """Remove publish temps whose publisher is gone (killed mid-copy); a live publisher's temp is left alone."""
    removed = []
    for path in home.glob(f"{TEMP_PREFIX}*.duckdb"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def connect_read_only(home: Path) -> duckdb.DuckDBPyConnection:
    path = published_path(home)
    if not path.exists():
        raise FileNotFoundError(
            f"no published warehouse at {path}: run `make demo` or materialize the dbt assets"
        )
    return duckdb.connect(str(path), read_only=True)
