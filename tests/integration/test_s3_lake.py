"""The lake on an S3-compatible store (moto's server on loopback): the same writes, reads and dbt sources as the
folder lake, each object written whole by one PUT."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from pipelines import duckdb_extensions
from pipelines.lake import Lake, LakeError, ObjectPath, lake_root
from tests.integration.scaleout_services import s3_server

DAY = date(2025, 10, 10)


@pytest.fixture(scope="module")
def store():
    with s3_server() as s3, pytest.MonkeyPatch.context() as patch:
        for key, value in s3.env.items():
            patch.setenv(key, value)
        yield s3


def _funding(times_ms: list[int]) -> pa.Table:
    n = len(times_ms)
    return pa.table(
        {
            "venue": ["binance"] * n,
            "asset": ["BTC"] * n,
            "symbol": ["BTCUSDT"] * n,
            "funding_time": pa.array(times_ms, pa.timestamp("ms", tz="UTC")),
            "funding_rate": [0.0001 * (i + 1) for i in range(n)],
            "funding_interval_hours": [8.0] * n,
            "mark_price": [100.0] * n,
            "raw": ["{}"] * n,
        }
    )


def test_a_partition_round_trips_through_the_bucket(store, tmp_path):
    lake = Lake.at(f"s3://{store.bucket}/lake", home=tmp_path)
    day_ms = 1760054400000  # 2025-10-10 00:00 UTC
    path = lake.partition_path("binance", "funding_rates", DAY)
    assert isinstance(path, ObjectPath) and not path.exists()
    with lake.dataset_lock("binance", "funding_rates"):  # a local lock file: an object store has none
        lake.write_partition("binance", "funding_rates", DAY, _funding([day_ms + 8 * 3_600_000, day_ms]))
    assert path.exists()
    assert "lake/binance/funding_rates/date=2025-10-10/data.parquet" in store.object_keys()
    back = lake.read_partition("binance", "funding_rates", DAY)
    assert back.column("funding_time").to_pylist() == sorted(back.column("funding_time").to_pylist())
    assert back.num_rows == 2 and lake.partition_status("binance", "funding_rates", DAY) == "ok"
    lake.ensure_anchor("binance", "funding_rates")
    found = lake.dataset_dir("binance", "funding_rates").glob("date=*/data.parquet")
    assert [p.parent.name for p in found] == ["date=1970-01-01", "date=2025-10-10"]
    assert (tmp_path / "state" / "lake-locks" / "binance" / "funding_rates.lock").exists()

    # the glob a dbt source reads, through DuckDB's httpfs with the same AWS environment
    con = duckdb_extensions.connect()
    duckdb_extensions.configure_lake(con, f"s3://{store.bucket}/lake")
    rows = con.sql(f"select count(*) from read_parquet('{lake.glob('binance', 'funding_rates')}')").fetchone()
    assert rows == (2,)


def test_bad_rows_leave_the_object_as_it_was(store, tmp_path):
    lake = Lake.at(f"s3://{store.bucket}/bad", home=tmp_path)
    with pytest.raises(LakeError, match="rows outside partition"):
        lake.write_partition("binance", "funding_rates", DAY, _funding([0]))
    assert not [k for k in store.object_keys() if k.startswith("bad/")]


def test_a_lake_url_names_a_bucket():
    with pytest.raises(LakeError, match="names no bucket"):
        lake_root("s3:///prefix")
    assert lake_root("file:///srv/lake") == __import__("pathlib").Path("/srv/lake")
