"""The deployment replay over two days of the small crash market: what a deployment running since 9 Oct saw is in
the lake, and a backfill long after (its clock on 1 December, when Binance's 30 days and OKX's 24 h have moved on)
keeps it. Each figure is compared with the simulator's ground truth."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
import pytest

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.intervals import merge_intervals
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, day_window_ms, iso_to_ms
from pipelines.sandbox import SANDBOX_API_KEY
from pipelines.sandbox.harness.deployment_replay import (
    ReplayJob,
    _days_to_fetch,
    deployment_jobs,
    record_in_dagster,
    replay_deployment,
    replayed_only,
)
from pipelines.sandbox.server import make_server
from pipelines.venues import binance, bybit, coinglass, hyperliquid, okx
from pipelines.venues.registry import VENUE_MODULES

START, CRASH = date(2025, 10, 9), date(2025, 10, 10)
LATE_CLOCK = iso_to_ms("2025-12-01T00:30:00Z")  # the demo's backfill day: Oct is beyond Binance's 30 days
OI = {
    "binance": binance.DATASETS["open_interest"],
    "okx": okx.DATASETS["open_interest"],
    "bybit": bybit.DATASETS["open_interest"],
}


@pytest.fixture(scope="module")
def replayed(sandbox_home, small_scenario, tmp_path_factory):
    """Two replayed days (9 and 10 Oct) into a fresh lake, then the last-day backfill of the OI datasets."""
    server = make_server(
        sandbox_home, scenario=small_scenario
    ).start()  # its own clock: the shared one stays put
    lake = Lake(tmp_path_factory.mktemp("replay_home") / "lake")
    try:
        report = replay_deployment(
            server.url,
            lake,
            day_start_ms(START),
            day_start_ms(CRASH) + DAY_MS,
            coinglass_key=SANDBOX_API_KEY,
        )
        clock_after = server.state.clock_ms
        server.state.clock.move_to(LATE_CLOCK)
        for venue, spec in OI.items():
            with VENUE_MODULES[venue].make_http(server.base_url(venue), limiter=None) as http:
                ingest_days(venue, spec, [START, CRASH], http=http, lake=lake, now_ms=LATE_CLOCK)
        yield server.state.market, lake, report, clock_after, small_scenario.clock_ms
    finally:
        server.stop()


def truth_on(market, day: date, venues: tuple[str, ...]) -> pa.Table:
    events = market.liquidation_events  # noqa: F841 (duckdb reads the local by name)
    lo, hi = day_window_ms(day)
    return duckdb.sql(
        f"""
        select venue, asset, side, notional_usd from events
        where epoch_ms(ts) >= {lo} and epoch_ms(ts) < {hi} and venue in ({", ".join(f"'{v}'" for v in venues)})
        """
    ).to_arrow_table()


def test_the_replay_restores_the_clock(replayed):
    _, _, report, clock_after, original = replayed
    assert clock_after == original
    assert report.positions >= 48 and report.runs > 0


def test_every_venue_has_oi_on_the_crash_day_after_a_late_backfill(replayed):
    _, lake, _, _, _ = replayed
    for venue, spec in OI.items():
        oi = lake.read_partition(venue, spec.name, CRASH)
        assert lake.partition_status(venue, spec.name, CRASH) == "ok", venue
        assert set(oi["asset"].to_pylist()) == {"BTC", "ETH", "SOL", "XRP", "DOGE"}, venue
        hours = duckdb.sql("select asset, count(*) as n from oi group by asset").fetchall()
        assert all(n >= 23 for _, n in hours), (venue, hours)  # hourly (a scripted Binance outage costs one)
    contexts = lake.read_partition(hyperliquid.VENUE, "asset_contexts", CRASH)
    assert contexts.num_rows == 5 * 4  # a snapshot per asset every sixth hour
    assert max(contexts["ts"].to_pylist()).hour == 23  # the day's last reading, the one leverage_daily keeps


def test_a_backfill_alone_on_1_december_would_miss_binance_oi(small_scenario, sandbox_home, tmp_path):
    """The control: without the replay, the same late backfill writes the crash day empty."""
    server = make_server(sandbox_home, scenario=small_scenario).start()
    try:
        server.state.clock.move_to(LATE_CLOCK)
        lake = Lake(tmp_path / "lake")
        with binance.make_http(server.base_url("binance"), limiter=None) as http:
            ingest_days("binance", OI["binance"], [CRASH], http=http, lake=lake, now_ms=LATE_CLOCK)
    finally:
        server.stop()
    assert lake.partition_status("binance", "open_interest", CRASH) == "beyond_retention"


def test_okx_saw_every_minute_of_the_crash_day_and_every_liquidation(replayed):
    market, lake, _, _, _ = replayed
    observed = lake.partition_observed("okx", "liquidations", CRASH)
    assert merge_intervals(observed) == [day_window_ms(CRASH)]  # the marts call this day complete, not none
    stored = lake.read_partition("okx", "liquidations", CRASH)
    truth = truth_on(market, CRASH, ("okx",))
    assert stored.num_rows == truth.num_rows > 1000
    assert len(stored["event_key"].unique()) == stored.num_rows  # two runs saw the day, nothing duplicated


def test_coinglass_gives_the_market_wide_crash_total(replayed):
    """All (Binance + OKX + Bybit) plus CoinGlass's Hyperliquid: the four venues' liquidations of the day."""
    market, lake, _, _, _ = replayed
    aggregates = lake.read_partition(coinglass.VENUE, "liquidation_aggregates", CRASH)
    daily = duckdb.sql(
        "select sum(long_usd + short_usd) from aggregates where interval = '1d' and exchange in ('All', 'Hyperliquid')"
    ).fetchall()[0][0]
    truth = truth_on(market, CRASH, ("binance", "okx", "bybit", "hyperliquid"))
    true_total = pa.compute.sum(truth["notional_usd"]).as_py()
    assert daily == pytest.approx(true_total, rel=0.05)
    assert set(aggregates["asset"].to_pylist()) == {"BTC", "ETH", "SOL", "XRP", "DOGE"}
    hourly = duckdb.sql(
        "select count(*) from aggregates where interval = '1h' and exchange = 'All'"
    ).fetchall()[0][0]
    assert hourly == 5 * 24


def test_jobs_never_ask_for_a_day_that_has_not_ended_unless_they_follow_it():
    spec = deployment_jobs(with_coinglass=False)
    oi = next(j for j in spec if j.name == "binance/open_interest")
    liq = next(j for j in spec if j.name == "okx/liquidations")
    noon = day_start_ms(CRASH) + 12 * HOUR_MS
    assert _days_to_fetch(oi, START, noon) == [START]
    assert _days_to_fetch(liq, START, noon) == [START, CRASH]
    assert _days_to_fetch(liq, CRASH, day_start_ms(CRASH)) == []  # the day starting now has nothing yet
    snapshot = ReplayJob("hyperliquid", hyperliquid.DATASETS["asset_contexts"], 1)
    assert _days_to_fetch(snapshot, START, noon) == [CRASH]


def test_what_the_replay_wrote_of_the_assets_the_ranged_run_leaves_out_is_reported_to_dagster(replayed):
    from dagster import AssetKey, DagsterInstance

    _, _, report, _, _ = replayed
    with DagsterInstance.ephemeral() as instance:
        reported = record_in_dagster(report, instance)
        days = {START.isoformat(), CRASH.isoformat()}
        for key in ("raw/okx/open_interest", "raw/okx/liquidations", "raw/hyperliquid/funding_rates"):
            assert replayed_only(key)
            assert set(instance.get_materialized_partitions(AssetKey(key.split("/")))) == days, key
        # snapshots stay with the ranged run (and its checks): nothing reported for them
        assert not instance.get_materialized_partitions(AssetKey(["raw", "deribit", "options_snapshots"]))
        keys = {f"raw/{name.split('[')[0]}" for name in report.results}
        assert reported == len(days) * len({key for key in keys if replayed_only(key)})
