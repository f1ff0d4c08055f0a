import duckdb
import pytest

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
