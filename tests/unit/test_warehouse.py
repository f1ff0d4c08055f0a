import os
import stat
import subprocess
import sys

import duckdb
import pytest

from pipelines.files import TEMP_PREFIX
from pipelines.warehouse import build_path, connect_read_only, publish, published_path


def build(home, value):
    build_path(home).parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build_path(home))) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.t as select ? as v", [value])


def test_readers_keep_working_while_a_new_build_is_published(tmp_path):
    build(tmp_path, 1)
    publish(tmp_path)
    reader = connect_read_only(tmp_path)
    assert reader.execute("select v from marts.t").fetchall() == [(1,)]
    build(tmp_path, 2)  # the writer works on its own file while the reader is open: no lock error
    publish(tmp_path)
    assert reader.execute("select v from marts.t").fetchall() == [(1,)]  # the old snapshot, whole
    reader.close()
    with connect_read_only(tmp_path) as fresh:
        assert fresh.execute("select v from marts.t").fetchall() == [(2,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "levwatch.duckdb"]


def test_nothing_to_publish_or_read_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no warehouse has been built"):
        publish(tmp_path)
    with pytest.raises(FileNotFoundError, match="run `make demo`"):
        connect_read_only(tmp_path)
    assert not published_path(tmp_path).exists()


def test_the_published_file_is_group_readable_and_a_killed_publish_leaves_nothing_behind(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("LEVWATCH_FILE_MODE", raising=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"{TEMP_PREFIX}{dead.pid}-0a1b2c3d-levwatch.duckdb"  # a publish killed mid-copy
    orphan.write_bytes(b"half a warehouse")
    build(tmp_path, 1)
    path = publish(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # analysts in the group can open it, no need to be us
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "levwatch.duckdb"]
    monkeypatch.setenv("LEVWATCH_FILE_MODE", "0644")
    publish(tmp_path)
    assert stat.S_IMODE(os.stat(published_path(tmp_path)).st_mode) == 0o644
    with connect_read_only(tmp_path) as con:
        assert con.execute("select v from marts.t").fetchall() == [(1,)]
