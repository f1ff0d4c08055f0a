import os
import stat
import subprocess
import sys

import duckdb
import pytest

from pipelines.files import TEMP_PREFIX
from pipelines.warehouse import (
    AnalystQueryRefused,
    build_path,
    connect_read_only,
    publish,
    published_path,
    run_analyst_query,
)
from tests.faults.harness import publish_killed_mid_copy


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


def test_a_publisher_killed_mid_copy_leaves_the_published_file_whole_and_the_next_publish_sweeps_its_temp(
    tmp_path,
):
    build(tmp_path, 1)
    publish(tmp_path)
    build(tmp_path, 2)
    publish_killed_mid_copy(tmp_path)
    with connect_read_only(tmp_path) as reader:  # the old warehouse, whole
        assert reader.execute("select v from marts.t").fetchall() == [(1,)]
    assert len(list(tmp_path.glob(".levwatch-*"))) == 1  # the killed publisher's half copy
    publish(tmp_path)
    with connect_read_only(tmp_path) as reader:
        assert reader.execute("select v from marts.t").fetchall() == [(2,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "levwatch.duckdb"]


def build_with_a_lake_view(home):
    """A published warehouse whose staging view reads the lake's parquet at query time, as dbt's do."""
    lake_file = home / "lake" / "binance" / "funding_rates" / "date=2025-10-10" / "data.parquet"
    lake_file.parent.mkdir(parents=True)
    duckdb.sql(f"copy (select 'BTC' as asset, 0.0001::double as funding_rate) to '{lake_file}'")
    build(home, 1)
    with duckdb.connect(str(build_path(home))) as con:
        con.execute("create schema staging")
        glob = home / "lake" / "binance" / "funding_rates" / "date=*" / "data.parquet"
        con.execute(f"create view staging.stg_funding as select * from read_parquet('{glob}')")
    publish(home)
    return lake_file


def test_analyst_connections_read_the_warehouse_and_the_lake_views(tmp_path):
    build_with_a_lake_view(tmp_path)
    with connect_read_only(tmp_path) as con:
        assert con.execute("select asset, funding_rate from staging.stg_funding").fetchall() == [
            ("BTC", 0.0001)
        ]
        assert con.execute("select v from marts.t").fetchall() == [(1,)]
        assert run_analyst_query(con, "select count(*) from staging.stg_funding").fetchall() == [(1,)]


def test_analyst_connections_write_no_file(tmp_path):
    lake_file = build_with_a_lake_view(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    outside = tmp_path.parent / f"{tmp_path.name}-copied.csv"
    with connect_read_only(tmp_path) as con:
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"copy (select 1) to '{outside}'")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"export database '{tmp_path / 'exported'}'")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"attach '{tmp_path / 'other.duckdb'}'")
        # inside the lake DuckDB itself would allow it (allowed_directories grants writes): analyst SQL is refused
        for statement in (
            f"copy (select 'ETH' as asset, 9.9::double as funding_rate) to '{lake_file}'",
            f"select 1; copy (select 1) to '{lake_file.parent / 'more.parquet'}'",
            f"attach '{lake_file.parent / 'x.duckdb'}'",
            "set enable_external_access = true",
        ):
            with pytest.raises(AnalystQueryRefused, match="only queries"):
                run_analyst_query(con, statement)
        # and the fence cannot be lifted from SQL
        for setting in (
            "enable_external_access = true",
            "lock_configuration = false",
            "allowed_directories = ['/']",
        ):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(f"set {setting}")
    assert not outside.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert duckdb.sql(f"select asset from '{lake_file}'").fetchall() == [("BTC",)]


def test_analyst_connections_read_nothing_outside_the_warehouse_and_the_lake(tmp_path):
    build_with_a_lake_view(tmp_path)
    secret = tmp_path.parent / f"{tmp_path.name}-private.csv"
    secret.write_text("token\nhunter2\n")
    with connect_read_only(tmp_path) as con:
        for query in (
            "select * from read_csv('/etc/passwd')",
            f"select * from read_csv('{secret}')",
            f"select * from '{secret}'",
            "select * from read_text('/etc/hostname')",
            "select * from glob('/etc/*')",
            f"select * from read_parquet('{tmp_path / 'lake'}/../../*.csv')",
        ):
            with pytest.raises(duckdb.PermissionException, match="disabled by configuration"):
                run_analyst_query(con, query).fetchall()
