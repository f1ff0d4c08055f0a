"""Minute klines end to end: each venue's client and ingest against the sandbox, compared with the simulator's own
minute path, and the paging edges of each venue's caps, ordering, cursors and retention."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, MINUTE_MS, day_window_ms, iso_to_ms
from pipelines.sandbox.minutes import MinuteBook
from pipelines.venues import binance, bybit, okx
from pipelines.venues import hyperliquid as hl
from pipelines.venues.registry import VENUE_MODULES

VENUES = ("binance", "bybit", "okx", "hyperliquid")
CRASH_DAY = date(2025, 10, 10)
ASSETS = ("BTC", "DOGE")
PRICE_TYPE = {"binance": "mark", "bybit": "mark", "okx": "mark", "hyperliquid": "last"}
# the venues' number formats round: Binance to 8 decimals, Bybit to ~5-6 significant digits (DOGE 5 decimals at
# ~0.12-0.25), OKX to the tick size (DOGE 0.00001), Hyperliquid to 5 significant digits
REL_TOLERANCE = {"binance": 1e-7, "bybit": 1e-4, "okx": 1e-4, "hyperliquid": 1e-4}


def client(sandbox, venue: str):
    return VENUE_MODULES[venue].make_http(sandbox.base_url(venue), backoff_base_s=0.01)


@pytest.fixture(scope="module")
def crash_lake(sandbox, small_scenario, tmp_path_factory) -> Lake:
    """The crash day of minute klines for every venue, through the real clients and ingest."""
    lake = Lake(tmp_path_factory.mktemp("klines_1m") / "lake")
    for venue in VENUES:
        with client(sandbox, venue) as http:
            results = ingest_days(
                venue,
                VENUE_MODULES[venue].DATASETS["klines_1m"],
                [CRASH_DAY],
                http=http,
                lake=lake,
                now_ms=small_scenario.clock_ms,
                assets=ASSETS,
            )
        assert [r.status for r in results] == ["ok"], venue
    return lake


@pytest.fixture(scope="module")
def book(sandbox) -> MinuteBook:
    return MinuteBook.from_market(sandbox.state.market)


def lake_rows(lake: Lake, venue: str, asset: str):
    table = lake.read_partition(venue, "klines_1m", CRASH_DAY)
    return table.filter(pc.equal(table["asset"], asset)).sort_by("open_time")


def crash_shock(sandbox) -> dict:
    return next(e for e in sandbox.state.market.truth["events"] if e["name"] == "tariff-crash")


@pytest.mark.parametrize("venue", VENUES)
def test_every_minute_of_the_crash_day_is_present_exactly_once(crash_lake, venue):
    start, end = day_window_ms(CRASH_DAY)
    for asset in ASSETS:
        times = pc.cast(lake_rows(crash_lake, venue, asset)["open_time"], "int64").to_pylist()
        assert times == list(range(start, end, MINUTE_MS)), (venue, asset)


@pytest.mark.parametrize("venue", VENUES)
def test_minute_prices_are_the_simulators_minute_path(crash_lake, book, venue):
    start, _ = day_window_ms(CRASH_DAY)
    first = book.index_of(start)
    for asset in ASSETS:
        rows = lake_rows(crash_lake, venue, asset)
        assert set(rows["price_type"].to_pylist()) == {PRICE_TYPE[venue]}
        truth = book.bars(venue, asset, PRICE_TYPE[venue], first, first + 1440).ohlc
        got = np.stack([rows[c].to_numpy() for c in ("open", "high", "low", "close")], axis=1)
        np.testing.assert_allclose(got, truth, rtol=REL_TOLERANCE[venue], err_msg=f"{venue} {asset}")


@pytest.mark.parametrize("venue", VENUES)
def test_the_crash_is_a_minute_path_not_a_straight_line(crash_lake, sandbox, venue):
    shock = crash_shock(sandbox)
    onset, minutes = shock["start_ms"], shock["duration_minutes"]
    rows = lake_rows(crash_lake, venue, "BTC")
    times = pc.cast(rows["open_time"], "int64").to_numpy()
    inside = (times >= onset) & (times < onset + minutes * MINUTE_MS)
    assert inside.sum() == minutes
    closes = rows["close"].to_numpy()[inside]
    opening = rows["open"].to_numpy()[inside][0]
    # the fall reaches at least the shock the truth log names (the cascade adds to it)
    assert math.log(rows["low"].to_numpy()[inside].min() / opening) <= shock["magnitude"]["BTC"]
    returns = np.diff(np.log(closes))
    assert np.abs(returns).max() > 2 * abs(returns.mean())  # the minutes do not fall at one pace
    line = np.linspace(closes[0], closes[-1], len(closes))
    assert np.abs(closes / line - 1).max() > 0.005  # the path leaves the straight line by > 0.5%


def test_binance_pages_499_minutes_oldest_first_without_a_trailing_empty_request(sandbox):
    start = iso_to_ms("2025-10-10T00:00:00Z")
    seen = len(sandbox.state.requests)
    with client(sandbox, "binance") as http:
        table = binance.fetch_klines_1m(http, "BTC", start, start + 1000 * MINUTE_MS)
    times = pc.cast(table["open_time"], "int64").to_pylist()
    assert times == list(range(start, start + 1000 * MINUTE_MS, MINUTE_MS))
    asked = [r["query"] for r in sandbox.state.requests[seen:] if r["path"].endswith("markPriceKlines")]
    # next startTime = the last open time + 1 ms, as the venue documents
    assert [int(q["startTime"]) for q in asked] == [
        start,
        start + 498 * MINUTE_MS + 1,
        start + 997 * MINUTE_MS + 1,
    ]
    assert {q["limit"] for q in asked} == {"499"}


def test_bybit_pages_back_from_the_end_with_inclusive_bounds(sandbox):
    start = iso_to_ms("2025-10-10T20:30:00Z")
    seen = len(sandbox.state.requests)
    with client(sandbox, "bybit") as http:
        table = bybit.fetch_klines_1m(http, "SOL", start, start + 60 * MINUTE_MS, page_limit=7)
    times = sorted(pc.cast(table["open_time"], "int64").to_pylist())
    assert times == list(range(start, start + 60 * MINUTE_MS, MINUTE_MS))
    asked = [r["query"] for r in sandbox.state.requests[seen:] if r["path"].endswith("mark-price-kline")]
    assert len(asked) == 9  # ceil(60 / 7): the last page reaches `start` and ends the walk
    ends = [int(q["end"]) for q in asked]
    assert ends[0] == start + 60 * MINUTE_MS - 1 and ends == sorted(ends, reverse=True)


def test_okx_pages_back_with_the_after_cursor_and_drops_the_minute_under_way(sandbox):
    start = iso_to_ms("2025-10-10T20:30:00Z")
    with client(sandbox, "okx") as http:
        table = okx.fetch_klines_1m(http, "XRP", start, start + 60 * MINUTE_MS, page_limit=7)
    times = sorted(pc.cast(table["open_time"], "int64").to_pylist())
    assert times == list(range(start, start + 60 * MINUTE_MS, MINUTE_MS))

    # with the clock 30 s into a minute, that minute is served unconfirmed and not kept
    clock = iso_to_ms("2025-10-12T12:00:30Z")
    sandbox.state.clock.move_to(clock)
    with client(sandbox, "okx") as http:
        recent = okx.fetch_klines_1m(http, "XRP", clock - 10 * MINUTE_MS, clock + MINUTE_MS)
    recent_times = sorted(pc.cast(recent["open_time"], "int64").to_pylist())
    under_way = clock - 30_000
    assert recent_times[-1] == under_way - MINUTE_MS and under_way not in recent_times


def test_hyperliquid_serves_500_per_call_and_only_the_latest_5000_minutes(sandbox, small_scenario):
    clock = small_scenario.clock_ms
    oldest_kept = clock - clock % MINUTE_MS - 4999 * MINUTE_MS
    seen = len(sandbox.state.requests)
    with client(sandbox, "hyperliquid") as http:
        day = hl.fetch_klines_1m(http, "ETH", *day_window_ms(CRASH_DAY))
        straddling = hl.fetch_klines_1m(
            http, "ETH", oldest_kept - 60 * MINUTE_MS, oldest_kept + 60 * MINUTE_MS
        )
    assert day.num_rows == 1440
    assert (
        len([r for r in sandbox.state.requests[seen:] if r["path"].endswith("/info")]) == 3 + 1
    )  # 500+500+440
    kept = sorted(pc.cast(straddling["open_time"], "int64").to_pylist())
    assert kept == list(range(oldest_kept, oldest_kept + 60 * MINUTE_MS, MINUTE_MS))


def test_hyperliquid_rerun_past_the_5000_minute_horizon_keeps_what_was_recorded(
    sandbox, small_scenario, tmp_path
):
    lake = Lake(tmp_path / "lake")
    spec = hl.DATASETS["klines_1m"]
    with client(sandbox, "hyperliquid") as http:
        first = ingest_days(
            "hyperliquid",
            spec,
            [CRASH_DAY],
            http=http,
            lake=lake,
            now_ms=small_scenario.clock_ms,
            assets=["BTC"],
        )
    assert first[0].rows == 1440
    before = lake.read_partition("hyperliquid", "klines_1m", CRASH_DAY).sort_by("open_time")

    # 18:00 on 13 Oct: the day is still within three days, but the 5,000 minutes kept start at 06:41 that day
    later = iso_to_ms("2025-10-13T18:00:00Z")
    sandbox.state.clock.move_to(later)
    with client(sandbox, "hyperliquid") as http:
        again = ingest_days(
            "hyperliquid", spec, [CRASH_DAY], http=http, lake=lake, now_ms=later, assets=["BTC"]
        )
    assert again[0].status == "ok" and again[0].per_asset == {"BTC": 1039}  # 06:41..23:59
    after = lake.read_partition("hyperliquid", "klines_1m", CRASH_DAY).sort_by("open_time")
    assert after.select(["open_time", "close"]).equals(before.select(["open_time", "close"]))


def test_hyperliquid_days_past_retention_are_written_empty(sandbox, small_scenario, tmp_path):
    lake = Lake(tmp_path / "lake")
    seen = len(sandbox.state.requests)
    with client(sandbox, "hyperliquid") as http:
        results = ingest_days(
            "hyperliquid",
            hl.DATASETS["klines_1m"],
            [date(2025, 10, 9)],
            http=http,
            lake=lake,
            now_ms=small_scenario.clock_ms,
        )
    assert [r.status for r in results] == ["beyond_retention"]
    assert lake.read_partition("hyperliquid", "klines_1m", date(2025, 10, 9)).num_rows == 0
    assert not [r for r in sandbox.state.requests[seen:] if r["venue"] == "hyperliquid"]
    assert hl.DATASETS["klines_1m"].retention_days == 5000 * MINUTE_MS // DAY_MS
