"""The liquidation warehouse shared by the liquidation-mart and cascade tests (one build per test session).

The lake's liquidation datasets are written straight from `market.liquidation_events`, the way each feed
delivers them: OKX (REST) and Bybit (allLiquidation stream) every event, Binance only the latest event per symbol
in each 1000 ms window, as its !forceOrder stream does (throttled here independently of the sandbox's streams).
Binance also gets a recorder gap with its events dropped, and CoinGlass aggregates computed from the truth, so
the coverage flags and the estimates have something to show. Open interest and candles come from the venue
clients against the sandbox, for the leverage_daily join, and minute klines for the cascades' price condition.
Then one `dbt build` (models and data tests).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest import ingest_days
from pipelines.instruments import venue_symbol
from pipelines.lake import Lake
from pipelines.lib.timeutil import days_between
from pipelines.venues.registry import VENUE_MODULES
from tests.integration.test_dbt_marts import run_dbt, source_datasets

DAYS = days_between(date(2025, 10, 9), date(2025, 10, 12))  # the whole small scenario
CRASH_DAY = date(2025, 10, 10)
COMPLETE_FEEDS = {"okx": "rest", "bybit": "stream"}
SAMPLED_FEED = "binance"
THROTTLE_MS = 1000
OI_ASSETS = ("BTC", "ETH")
# A Binance recorder disconnect: half of 12:00 and all of 13:00 on 11 Oct
GAP_START = datetime(2025, 10, 11, 12, 30, tzinfo=UTC)
GAP_END = datetime(2025, 10, 11, 14, 0, tzinfo=UTC)
FULL_GAP_HOUR = datetime(2025, 10, 11, 13)  # naive UTC, like the marts


KLINES_1M_VENUES = ("binance", "bybit")
LIQUIDATION_MARTS = ("fct_liquidations", "liquidations_hourly", "liquidations_daily", "leverage_daily")
CASCADE_MODELS = ("int_liquidation_minutes_flagged", "liquidation_cascades")


def mart_counts(db) -> dict[str, object]:
    with duckdb.connect(str(db), read_only=True) as con:
        counts: dict[str, object] = {
            mart: con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            for mart in LIQUIDATION_MARTS
        }
        counts["flagged_minutes"] = con.execute(
            "select count(*), count(*) filter (where is_flagged) from intermediate.int_liquidation_minutes_flagged"
        ).fetchone()
        counts["episodes"] = sorted(
            con.execute("select episode_id, start_ts, end_ts from marts.liquidation_cascades").fetchall()
        )
        return counts


def throttled(events: pa.Table) -> pa.Table:
    """Binance's stream: per symbol (asset here) and 1000 ms window, only the latest event is pushed."""
    return duckdb.sql(
        f"""
        select * from events
        qualify row_number() over (
            partition by asset, epoch_ms(ts) // {THROTTLE_MS} order by ts desc, event_id desc
        ) = 1
        """
    ).to_arrow_table()


def lake_rows(venue: str, source: str, events: pa.Table) -> pa.Table:
    rows = events.to_pylist()
    return pa.table(
        {
            "venue": [venue] * len(rows),
            "asset": [r["asset"] for r in rows],
            "symbol": [venue_symbol(venue, r["asset"]) for r in rows],
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("ms", tz="UTC")),
            "side": [r["side"] for r in rows],
            "price": [r["price"] for r in rows],
            "qty_coin": [r["qty_coin"] for r in rows],
            "notional_usd": [r["notional_usd"] for r in rows],
            "source": [source] * len(rows),
            "event_key": [f"{venue}:{r['event_id']}" for r in rows],
            "raw": [json.dumps({"event_id": r["event_id"]}) for r in rows],
        }
    )


def write_by_day(
    lake: Lake, venue: str, dataset: str, rows: pa.Table, days: list[date] | None = None
) -> None:
    for day in days or DAYS:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        day_rows = duckdb.sql(
            "select * from rows where ts >= $start and ts < $end",
            params={"start": start, "end": start + timedelta(days=1)},
        ).to_arrow_table()
        lake.write_partition(venue, dataset, day, day_rows)


def coinglass_aggregates(truth: pa.Table) -> pa.Table:
    """CoinGlass-shaped buckets from the truth: All (Binance+OKX+Bybit) for BTC, and Binance alone for ETH and
    SOL (two assets filling the same gap hour: their aggregate rows must not share an event key)."""
    return duckdb.sql(
        """
        with buckets as (
            select 'All' as exchange, asset, '1h' as interval, date_trunc('hour', ts) as ts, side, notional_usd
            from truth where asset = 'BTC' and venue in ('binance', 'okx', 'bybit')
            union all
            select 'All', asset, '1d', date_trunc('day', ts), side, notional_usd
            from truth where asset = 'BTC' and venue in ('binance', 'okx', 'bybit')
            union all
            select 'Binance', asset, '1h', date_trunc('hour', ts), side, notional_usd
            from truth where asset in ('ETH', 'SOL') and venue = 'binance'
            union all
            select 'Binance', asset, '1d', date_trunc('day', ts), side, notional_usd
            from truth where asset in ('ETH', 'SOL') and venue = 'binance'
        )
        select
            'coinglass' as venue, asset, exchange, interval, ts,
            coalesce(sum(notional_usd) filter (where side = 'long'), 0) as long_usd,
            coalesce(sum(notional_usd) filter (where side = 'short'), 0) as short_usd,
            '{}' as raw
        from buckets
        group by all
        """
    ).to_arrow_table()


def build_warehouse(home: Path, sandbox, scenario, truth: pa.Table) -> duckdb.DuckDBPyConnection:
    """The lake described in the module docstring, one `dbt build` of the liquidation and cascade marts, a ranged
    re-run that must change nothing, and a connection with the warehouse attached as `levwatch` (its own catalog name, which its views name) and the truth as views."""
    lake = Lake(home / "lake")

    for venue, source in COMPLETE_FEEDS.items():
        venue_events = truth.filter(pc.equal(truth["venue"], venue))
        write_by_day(lake, venue, "liquidations", lake_rows(venue, source, venue_events))

    sampled = throttled(truth.filter(pc.equal(truth["venue"], SAMPLED_FEED)))
    ts_type = sampled.schema.field("ts").type
    in_gap = pc.and_(
        pc.greater_equal(sampled["ts"], pa.scalar(GAP_START, ts_type)),
        pc.less(sampled["ts"], pa.scalar(GAP_END, ts_type)),
    )
    recorded = sampled.filter(pc.invert(in_gap))
    write_by_day(lake, SAMPLED_FEED, "liquidations", lake_rows(SAMPLED_FEED, "stream", recorded))
    gap = pa.table(
        {
            "venue": [SAMPLED_FEED],
            "stream": ["!forceOrder@arr"],
            "gap_start": pa.array([GAP_START], pa.timestamp("ms", tz="UTC")),
            "gap_end": pa.array([GAP_END], pa.timestamp("ms", tz="UTC")),
            "reason": ["test disconnect"],
            "recorder_id": ["test"],
        }
    )
    lake.write_partition(SAMPLED_FEED, "liquidation_gaps", GAP_START.date(), gap)
    write_by_day(lake, "coinglass", "liquidation_aggregates", coinglass_aggregates(truth))

    for venue in ("binance", "bybit", "okx"):
        module = VENUE_MODULES[venue]
        with module.make_http(sandbox.base_url(venue)) as http:
            for dataset in ("open_interest", "klines"):
                ingest_days(
                    venue,
                    module.DATASETS[dataset],
                    DAYS,
                    http=http,
                    lake=lake,
                    now_ms=scenario.clock_ms,
                    assets=OI_ASSETS,
                )
            # the cascades' price condition: every asset's minute klines, from the two venues that page them
            # fastest (OKX serves 100 minutes a request)
            if venue in KLINES_1M_VENUES:
                ingest_days(
                    venue, module.DATASETS["klines_1m"], DAYS, http=http, lake=lake, now_ms=scenario.clock_ms
                )
    for venue, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir()

    run_dbt(
        home,
        "build",
        "--select",
        "+leverage_daily",
        "+liquidations_hourly",
        "+fct_liquidations",
        "+liquidation_cascades",
        # tests whose every parent is built (contagion_daily's check reads the flagged minutes built here)
        "--indirect-selection",
        "cautious",
    )
    db = home / "build" / "levwatch.duckdb"
    counts_after_build = mart_counts(db)
    # a ranged re-run replaces the window's rows and adds none; episodes keep their ids
    window = {"start_date": str(CRASH_DAY), "end_date": str(GAP_START.date())}
    run_dbt(home, "run", "--select", *LIQUIDATION_MARTS, *CASCADE_MODELS, window=window)
    assert mart_counts(db) == counts_after_build

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{db}' as levwatch (read_only)")
    con.register("truth_raw", truth)
    con.register("binance_recorded_raw", recorded)
    for name in ("truth", "binance_recorded"):
        con.execute(
            f"create temp view {name} as select * replace (timezone('UTC', ts) as ts) from {name}_raw"
        )
    return con
