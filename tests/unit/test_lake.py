from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lake import SCHEMAS, STATUS_KEY, Lake, LakeError

DAY = date(2025, 10, 10)
T0 = 1760054400000  # 2025-10-10T00:00Z


def funding_rows(times, rate=0.0001):
    return pa.Table.from_pylist(
        [
            {
                "venue": "binance",
                "asset": "BTC",
                "symbol": "BTCUSDT",
                "funding_time": t,
                "funding_rate": rate,
                "funding_interval_hours": None,
                "mark_price": 100.0,
                "raw": "{}",
            }
            for t in times
        ],
        schema=SCHEMAS["funding_rates"],
    )


def test_partition_path_layout(tmp_path):
    lake = Lake(tmp_path)
    path = lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0]))
    assert path == tmp_path / "binance" / "funding_rates" / "date=2025-10-10" / "data.parquet"


def test_rewrite_replaces_exactly_and_sorts_by_time(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition(
        "binance", "funding_rates", DAY, funding_rows([T0 + 16 * 3600_000, T0, T0 + 8 * 3600_000])
    )
    lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0 + 8 * 3600_000, T0], rate=0.0002))
    table = lake.read_partition("binance", "funding_rates", DAY)
    assert table.num_rows == 2
    assert [t.value for t in table["funding_time"]] == [T0, T0 + 8 * 3600_000]
    assert table["funding_rate"].to_pylist() == [0.0002, 0.0002]
    assert (
        pq.read_metadata(lake.partition_path("binance", "funding_rates", DAY))
        .row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )
    assert list((tmp_path / "binance" / "funding_rates" / "date=2025-10-10").iterdir()) == [
        lake.partition_path("binance", "funding_rates", DAY)
    ]


def test_a_crash_mid_write_leaves_the_old_file(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0]))

    def explode(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError, match="disk full"):
        lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0, T0 + 1]))
    monkeypatch.undo()
    assert lake.read_partition("binance", "funding_rates", DAY).num_rows == 1
    leftovers = [p.name for p in lake.partition_path("binance", "funding_rates", DAY).parent.iterdir()]
    assert leftovers == ["data.parquet"]


def test_rows_outside_the_day_and_duplicates_are_refused_before_writing(tmp_path):
    lake = Lake(tmp_path)
    with pytest.raises(LakeError, match="outside partition 2025-10-10"):
        lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0 - 1]))
    with pytest.raises(LakeError, match="duplicate"):
        lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0, T0]))
    assert not lake.partition_path("binance", "funding_rates", DAY).exists()


def test_required_columns_and_types_are_enforced(tmp_path):
    lake = Lake(tmp_path)
    bad = funding_rows([T0]).drop_columns(["raw"])
    with pytest.raises(LakeError, match="missing columns"):
        lake.write_partition("binance", "funding_rates", DAY, bad)
    with pytest.raises(LakeError, match="unknown dataset"):
        lake.partition_path("binance", "nope", DAY)


def test_empty_partitions_carry_their_status(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition(
        "binance", "open_interest", DAY, SCHEMAS["open_interest"].empty_table(), status="beyond_retention"
    )
    assert lake.partition_status("binance", "open_interest", DAY) == "beyond_retention"
    meta = pq.read_schema(lake.partition_path("binance", "open_interest", DAY)).metadata
    assert meta[STATUS_KEY] == b"beyond_retention"
    assert lake.partition_status("binance", "open_interest", date(2025, 10, 11)) is None


def test_nulls_in_required_columns_are_named(tmp_path):
    rows = funding_rows([T0]).set_column(4, "funding_rate", pa.array([None], pa.float64()))
    with pytest.raises(LakeError, match="column 'funding_rate' has nulls but is required"):
        Lake(tmp_path).write_partition("binance", "funding_rates", DAY, rows)
