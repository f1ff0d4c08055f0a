import os
import stat
import subprocess
import sys
import threading
import time
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.files import TEMP_PREFIX, LockTimeout
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


def api_calls(run_id: str, *times_ms: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"venue": "binance", "endpoint": "/fapi/v1/fundingRate", "method": "GET", "requested_at": t,
             "status": 200, "latency_ms": 12.5, "attempt": 1, "ok": True, "error": None, "run_id": run_id}
            for t in times_ms
        ]
    )  # fmt: skip


def test_a_log_day_is_one_file_each_run_appends_to_and_a_crash_mid_append_leaves_the_old_one(
    tmp_path, monkeypatch
):
    lake = Lake(tmp_path)
    lake.append_log("binance", "api_health", DAY, api_calls("r1", T0 + 2, T0))
    lake.append_log("binance", "api_health", DAY, api_calls("r2", T0 + 1))
    path = lake.partition_path("binance", "api_health", DAY)
    assert [p.name for p in path.parent.iterdir()] == ["data.parquet"]
    rows = pq.read_table(path).to_pylist()
    # every row of both runs, once, in time order
    assert [(r["run_id"], r["requested_at"].timestamp() * 1000) for r in rows] == [
        ("r1", T0), ("r2", T0 + 1), ("r1", T0 + 2),
    ]  # fmt: skip

    def explode(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError, match="disk full"):
        lake.append_log("binance", "api_health", DAY, api_calls("r3", T0 + 3))
    monkeypatch.undo()
    assert pq.read_table(path).to_pylist() == rows
    assert [p.name for p in path.parent.iterdir()] == ["data.parquet"]
    # rows that do not fit the log's schema are refused before anything is read or written
    with pytest.raises(LakeError, match="api_health: missing columns"):
        lake.append_log("binance", "api_health", DAY, api_calls("r4", T0).drop_columns(["endpoint"]))
    assert pq.read_table(path).to_pylist() == rows


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


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_a_killed_writer_left_are_swept_by_the_next_write(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0]))
    folder = lake.partition_path("binance", "funding_rates", DAY).parent
    orphan = folder / f"{TEMP_PREFIX}{dead_pid()}-0a1b2c3d-data.parquet"  # its writer was killed mid-write
    orphan.write_bytes(b"PAR1 half a file")
    legacy = folder / ".tmp-k2j3h4.parquet"  # an old-style name, no pid: swept once stale
    legacy.write_bytes(b"PAR1")
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    writing = folder / f"{TEMP_PREFIX}{os.getpid()}-99999999-data.parquet"  # a live writer's: left alone
    writing.write_bytes(b"PAR1")

    lake.write_partition("binance", "funding_rates", DAY, funding_rows([T0, T0 + 8 * 3600_000]))
    assert sorted(p.name for p in folder.iterdir()) == sorted(["data.parquet", writing.name])
    assert lake.read_partition("binance", "funding_rates", DAY).num_rows == 2


def test_files_and_folders_are_group_readable_by_default_and_the_mode_is_configurable(tmp_path, monkeypatch):
    old_umask = os.umask(0o077)  # whatever the umask, the configured mode is what analysts get
    try:
        monkeypatch.delenv("LEVWATCH_FILE_MODE", raising=False)
        path = Lake(tmp_path / "lake").write_partition("binance", "funding_rates", DAY, funding_rows([T0]))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        for folder in (path.parent, path.parent.parent, tmp_path / "lake"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o750
        monkeypatch.setenv("LEVWATCH_FILE_MODE", "0644")
        path = Lake(tmp_path / "lake").write_partition("bybit", "funding_rates", DAY, funding_rows([T0]))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
        path = Lake(tmp_path / "lake", file_mode=0o600).write_partition(
            "okx", "funding_rates", DAY, funding_rows([T0])
        )
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)


def test_the_dataset_lock_waits_then_fails_clearly_and_is_never_taken_twice(tmp_path):
    lake = Lake(tmp_path)
    taken, release = threading.Event(), threading.Event()

    def other_run():
        with lake.dataset_lock("okx", "liquidations"):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=other_run)
    holder.start()
    try:
        assert taken.wait(30)
        expected = rf"okx/liquidations: another run still holds .* pid {os.getpid()}"
        with (
            pytest.raises(LockTimeout, match=expected),
            lake.dataset_lock("okx", "liquidations", timeout_s=0.2),
        ):
            pass
        with (
            lake.dataset_lock("okx", "open_interest", timeout_s=0.2),  # other datasets are not held up
            pytest.raises(RuntimeError, match="already held by this thread"),
            lake.dataset_lock("okx", "open_interest"),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    with lake.dataset_lock("okx", "liquidations", timeout_s=5):  # released when its holder is done
        pass
    assert not list(tmp_path.glob("*/*/date=*"))  # the lock files live outside every dataset's folder
