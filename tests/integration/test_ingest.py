"""Ingest over a day range: day-by-day files, failures that name the day, idempotent re-runs, api_health."""

from dataclasses import replace
from datetime import date

import pyarrow.parquet as pq
import pytest

from pipelines.ingest import PartitionFailed, ingest_days, partition_status
from pipelines.lake import KEY_COLUMNS, Lake
from pipelines.lib.timeutil import day_window_ms
from pipelines.venues import binance

DAYS = [date(2025, 10, 10), date(2025, 10, 11), date(2025, 10, 12)]


def http_for(sandbox):
    return binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None)


def test_a_failing_day_stops_the_run_names_the_day_and_keeps_earlier_days(sandbox, tmp_path):
    lake = Lake(tmp_path)
    bad_start, _ = day_window_ms(DAYS[1])
    real = binance.DATASETS["funding_rates"]

    def flaky(http, asset, start, end):
        if start == bad_start:
            raise ValueError("venue sent garbage")
        return real.fetch(http, asset, start, end)

    spec = replace(real, fetch=flaky, chunk_days=1)
    with (
        http_for(sandbox) as http,
        pytest.raises(PartitionFailed, match="binance/funding_rates failed on 2025-10-11") as failed,
    ):
        ingest_days("binance", spec, DAYS, http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id="r1")
    assert lake.read_partition("binance", "funding_rates", DAYS[0]).num_rows == 15  # 3 settlements x 5 assets
    assert not lake.partition_path("binance", "funding_rates", DAYS[1]).exists()
    assert not lake.partition_path("binance", "funding_rates", DAYS[2]).exists()
    assert [(r.day, r.rows) for r in failed.value.written] == [(DAYS[0], 15)]  # what the asset reports
    # the outcome log says what became of each day asked for
    [log] = list((tmp_path / "binance" / "ingest_outcomes").rglob("*.parquet"))  # the attempt day's one file
    outcomes = [
        (r["day"].date(), r["outcome"], r["rows"], r["error"])
        for r in pq.read_table(log).to_pylist()
        if r["run_id"] == "r1" and r["dataset"] == "funding_rates"
    ]
    assert outcomes == [
        (DAYS[0], "ok", 15, None),
        (DAYS[1], "failed", None, "ValueError: venue sent garbage"),
        (DAYS[2], "not_attempted", None, "not reached: 2025-10-11 failed first"),
    ]


def test_rerunning_a_range_replaces_files_without_duplicates(sandbox, tmp_path):
    lake = Lake(tmp_path)
    spec = binance.DATASETS["open_interest"]
    for _ in range(2):
        with http_for(sandbox) as http:
            results = ingest_days(
                "binance", spec, DAYS, http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id=f"run{_}"
            )
    for day, result in zip(DAYS, results, strict=True):
        table = lake.read_partition("binance", "open_interest", day)
        assert table.num_rows == result.rows
        assert table.group_by(["symbol", "ts"]).aggregate([]).num_rows == table.num_rows
    # the outage hour (2025-10-10 21:00) has no Binance statistics: 23 readings that day, 24 on the others
    assert [r.rows for r in results] == [23 * 5, 24 * 5, 24 * 5]
    assert results[0].per_asset == {"BTC": 23, "ETH": 23, "SOL": 23, "XRP": 23, "DOGE": 23}


def test_every_request_is_recorded_as_api_health(sandbox, tmp_path):
    lake = Lake(tmp_path)

    def run(dataset: str, run_id: str) -> None:
        with http_for(sandbox) as http:
            ingest_days(
                "binance",
                binance.DATASETS[dataset],
                DAYS[:1],
                http=http,
                lake=lake,
                now_ms=sandbox.state.clock_ms,
                run_id=run_id,
            )

    run("funding_rates", "r1")
    files = list((tmp_path / "binance" / "api_health").rglob("*.parquet"))
    assert [f.name for f in files] == ["data.parquet"]  # one log file for the day of the requests
    health = pq.read_table(files[0])
    assert health.num_rows >= 5  # at least one call per asset
    assert set(health["endpoint"].to_pylist()) == {"/fapi/v1/fundingRate"}
    assert all(health["ok"].to_pylist()) and set(health["status"].to_pylist()) == {200}
    assert set(health["run_id"].to_pylist()) == {"r1"}
    # a second run the same day adds its requests to that file: both runs' rows, each once
    run("open_interest", "r2")
    assert [f.name for f in (tmp_path / "binance" / "api_health").rglob("*.parquet")] == ["data.parquet"]
    both = pq.read_table(files[0]).to_pylist()
    assert [r for r in both if r["run_id"] == "r1"] == health.to_pylist()
    r2 = [r for r in both if r["run_id"] == "r2"]
    assert len(r2) >= 5 and {r["endpoint"] for r in r2} == {"/futures/data/openInterestHist"}  # one per asset
    assert len(both) == health.num_rows + len(r2)


def test_partition_status_rules():
    spec = binance.DATASETS["open_interest"]
    now = day_window_ms(date(2025, 12, 1))[0] + 1800_000
    assert partition_status(spec, date(2025, 11, 30), now) == "ok"
    assert partition_status(spec, date(2025, 11, 1), now) == "ok"
    assert partition_status(spec, date(2025, 10, 31), now) == "beyond_retention"
    assert partition_status(spec, date(2025, 12, 2), now) == "future"
    assert partition_status(binance.DATASETS["funding_rates"], date(2019, 9, 10), now) == "ok"
    snapshot = replace(spec, snapshot=True, retention_days=None)
    assert partition_status(snapshot, date(2025, 12, 1), now) == "ok"
    assert partition_status(snapshot, date(2025, 11, 30), now) == "not_recordable"


def test_days_recorded_earlier_are_kept_when_the_venue_no_longer_serves_them(sandbox, tmp_path):
    lake = Lake(tmp_path)
    spec = binance.DATASETS["open_interest"]
    with http_for(sandbox) as http:
        ingest_days("binance", spec, DAYS[:1], http=http, lake=lake, now_ms=sandbox.state.clock_ms)
    recorded = lake.read_partition("binance", "open_interest", DAYS[0])
    later = sandbox.state.clock_ms + 40 * 86_400_000  # a re-backfill long after: beyond the 30-day retention
    with http_for(sandbox) as http:
        results = ingest_days("binance", spec, DAYS, http=http, lake=lake, now_ms=later)
    assert [(r.day, r.status) for r in results] == [
        (DAYS[0], "kept"),
        (DAYS[1], "beyond_retention"),
        (DAYS[2], "beyond_retention"),
    ]
    assert lake.read_partition("binance", "open_interest", DAYS[0]).equals(recorded)
    assert lake.read_partition("binance", "open_interest", DAYS[1]).num_rows == 0


def test_snapshots_accumulate_through_their_day(sandbox, tmp_path):
    from pipelines.venues import hyperliquid

    lake = Lake(tmp_path)
    spec = hyperliquid.DATASETS["asset_contexts"]
    day = date(2025, 10, 12)
    clock = day_window_ms(day)[0]
    with hyperliquid.make_http(sandbox.base_url("hyperliquid"), sleep=lambda s: None) as http:
        for hour in (3, 7, 7):  # the 07:00 snapshot taken twice replaces itself
            sandbox.state.clock.move_to(clock + hour * 3_600_000 + 60_000)
            ingest_days("hyperliquid", spec, [day], http=http, lake=lake, now_ms=sandbox.state.clock_ms)
    table = lake.read_partition("hyperliquid", "asset_contexts", day)
    hours = sorted({t.value for t in table["ts"]})
    assert hours == [clock + 3 * 3_600_000, clock + 7 * 3_600_000]
    assert table.num_rows == 2 * 5  # two snapshots x five assets


def test_a_rolling_window_source_merges_with_what_the_day_already_holds(sandbox, tmp_path):
    """OKX serves only the last 24 h: the 00:30 run for yesterday must not erase what the hourly runs recorded."""
    from pipelines.venues import okx

    lake = Lake(tmp_path)
    spec = okx.DATASETS["liquidations"]
    day = DAYS[0]  # 2025-10-10, the crash
    start, end = day_window_ms(day)
    with okx.make_http(sandbox.base_url("okx"), sleep=lambda s: None) as http:
        sandbox.state.clock.move_to(end - 1)  # late on the day: the whole day is served
        full = ingest_days("okx", spec, [day], http=http, lake=lake, now_ms=sandbox.state.clock_ms)[0].rows
        sandbox.state.clock.move_to(
            end + 23 * 3_600_000
        )  # next evening: only the day's last hour is still served
        ingest_days("okx", spec, [day], http=http, lake=lake, now_ms=sandbox.state.clock_ms)
    table = lake.read_partition("okx", "liquidations", day)
    assert full > 0 and table.num_rows == full
    assert table.group_by(["venue", "event_key"]).aggregate([]).num_rows == full


@pytest.mark.parametrize(
    "venue, dataset",
    [
        ("binance", "open_interest"),
        ("binance", "long_short_ratios"),
        ("okx", "funding_rates"),
        ("hyperliquid", "klines"),
    ],
)
def test_a_rerun_of_a_day_half_outside_retention_keeps_the_hours_the_venue_forgot(
    sandbox, tmp_path, venue, dataset
):
    """The reported fault: a day re-run 'retention + 12 h' later came back ok with only the half still served."""
    from pipelines.venues.registry import VENUE_MODULES

    module = VENUE_MODULES[venue]
    spec, day, lake = module.DATASETS[dataset], DAYS[1], Lake(tmp_path)
    start, end = day_window_ms(day)
    keys = list(KEY_COLUMNS[dataset])
    with module.make_http(sandbox.base_url(venue), sleep=lambda s: None) as http:
        first = ingest_days(
            venue, spec, [day], http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id="early"
        )
        recorded = lake.read_partition(venue, dataset, day)
        sandbox.state.clock.move_to(start + spec.retention_days * 86_400_000 + 12 * 3_600_000)
        second = ingest_days(
            venue, spec, [day], http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id="late"
        )

    served_late = sum(second[0].per_asset.values())
    assert 0 < served_late < first[0].rows  # the venue really forgot part of the day
    table = lake.read_partition(venue, dataset, day)
    assert second[0].status == "ok" and second[0].rows == table.num_rows == recorded.num_rows
    assert table.group_by(keys).aggregate([]).num_rows == table.num_rows  # nothing duplicated
    assert sorted(table.select(keys).to_pylist(), key=str) == sorted(
        recorded.select(keys).to_pylist(), key=str
    )
    runs = lake.partition_runs(venue, dataset, day)
    assert [r["run_id"] for r in runs] == ["early", "late"]
    assert runs[1]["rows"] == served_late and sum(r["rows"] for r in runs) == table.num_rows
    assert runs[1]["observed_ms"] == [[start + 12 * 3_600_000, end]]
    assert runs[0]["holds_ms"][0][0] == start  # the morning still comes from the early run
    assert lake.partition_observed(venue, dataset, day) == [(start, end)]


def test_a_day_the_fetch_sees_whole_is_written_without_reading_the_recorded_file(
    sandbox, tmp_path, monkeypatch
):
    lake = Lake(tmp_path)
    spec = binance.DATASETS["funding_rates"]
    with http_for(sandbox) as http:
        ingest_days("binance", spec, DAYS, http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id="r1")
        reads = []
        monkeypatch.setattr(Lake, "read_partition", lambda self, *a: reads.append(a))
        ingest_days("binance", spec, DAYS, http=http, lake=lake, now_ms=sandbox.state.clock_ms, run_id="r2")
    assert reads == []  # a backfill of complete days costs no reads
    for day in DAYS:
        assert [r["run_id"] for r in lake.partition_runs("binance", "funding_rates", day)] == ["r2"]
