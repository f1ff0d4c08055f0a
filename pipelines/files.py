"""Crash-safe files: atomic replacement, the sweep of temp files a killed writer left, and per-dataset locks.

A file is written to a temp file in its own folder, fsynced, renamed over the target, and the folder is fsynced,
so after a crash readers see the old file or the new one, never a part. Temp files are named
`.levwatch-tmp-<pid>-<random>-<target name>`: a writer killed mid-write (kill -9, OOM, power) leaves one behind,
and the next write into that folder removes it once its writer is gone. Dot-names keep them out of every glob
the pipeline and dbt read.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pipelines.settings import dir_mode_for, load_file_mode

TEMP_PREFIX = ".levwatch-tmp-"
# the names older versions gave their temp files (no pid in them): swept by age alone
LEGACY_TEMP_NAMES = ((".tmp-", ".parquet"), (".levwatch-", ".duckdb"))
# A temp file whose writer is alive is left alone unless nobody has written to it for this long (its pid may
# have been reused by an unrelated process after a crash). Writers write continuously; a pause this long is a
# dead writer.
STALE_TEMP_S = 60.0
LOCK_TIMEOUT_S = 120.0


class LockTimeout(TimeoutError):
    pass


def file_mode(mode: int | None = None) -> int:
    return load_file_mode() if mode is None else mode


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(folder: Path, mode: int | None = None) -> None:
    """mkdir -p with the configured directory mode (whatever the umask), each new entry made durable."""
    if folder.is_dir():
        return
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    dmode = dir_mode_for(file_mode(mode))
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another writer made it first
            continue
        os.chmod(path, dmode)
        fsync_dir(path.parent)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: it will never write again
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _temp_pid(name: str) -> int | None:
    if not name.startswith(TEMP_PREFIX):
        return None
    head = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


# A folder this large (the recorder's landing area, a file a minute) is swept at most once per STALE_TEMP_S by
# each process, its first write included: listing it on every write would grow with its history.
LARGE_FOLDER = 2_000
_large_swept: dict[Path, float] = {}


def sweep_orphans(folder: Path, *, stale_after_s: float = STALE_TEMP_S) -> list[Path]:
    """Remove temp files whose writer died (its pid is gone, or the file has not changed for stale_after_s)."""
    removed: list[Path] = []
    last = _large_swept.get(folder)
    if last is not None and time.monotonic() - last < STALE_TEMP_S:
        return removed
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    if len(entries) >= LARGE_FOLDER:
        _large_swept[folder] = time.monotonic()
    now = time.time()
    for entry in entries:
        name = entry.name
        legacy = any(name.startswith(p) and name.endswith(s) for p, s in LEGACY_TEMP_NAMES)
        if not (name.startswith(TEMP_PREFIX) or legacy):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:  # its writer just renamed it into place
            continue
        pid = _temp_pid(name)
        if (pid is not None and not _pid_alive(pid)) or age > stale_after_s:
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def atomic_write(target: Path, write: Callable[[BinaryIO], None], *, mode: int | None = None) -> Path:
    """Write `target` whole or not at all: temp file, fsync, rename, fsync of the folder."""
    mode = file_mode(mode)
    folder = target.parent
    make_dirs(folder, mode)
    sweep_orphans(folder)
    tmp = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{target.name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)  # explicit: mkstemp-style 0600 would lock analysts out, a umask would vary
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(folder)
    return target


_held = threading.local()


def _flock_holder(fd: int) -> str:
    """The pid holding a flock on this file, from /proc/locks (Linux), for the timeout message. Writing it into
    the lock file instead would cost a journaled write on every acquisition."""
    inode = str(os.fstat(fd).st_ino)
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == inode:
                    return f"pid {parts[4]}"
    except OSError:
        pass
    return "unknown"


@contextmanager
def file_lock(path: Path, *, timeout_s: float = LOCK_TIMEOUT_S, what: str = "") -> Iterator[None]:
    """An exclusive flock on `path`, waited for up to timeout_s. The kernel drops it when its holder dies, so a
    killed run never leaves a dataset locked. Not re-entrant: taking it twice in one thread is an error."""
    import fcntl

    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = set()
    if path in held:
        raise RuntimeError(f"lock {path} is already held by this thread")
    make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{what or path}: another run still holds the lock {path} after {timeout_s:g} s "
                        f"(holder: {_flock_holder(fd)}); wait for it to finish, or stop it"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
