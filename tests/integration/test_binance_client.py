"""The Binance client against the sandbox: page edges, retention, unknown symbols, and the Market's own truth."""

from datetime import date

import pyarrow.compute as pc
import pytest

from pipelines.ingest import ingest_days
from pipelines.instruments import UnknownSymbolError
from pipelines.lake import Lake
from pipelines.lib.timeutil import HOUR_MS, day_window_ms
from pipelines.venues import binance

START, _ = day_window_ms(date(2025, 10, 9))
_, END = day_window_ms(date(2025, 10, 12))


def truth(market, table, venue, asset, time_col, lo, hi):
    t = getattr(market, table)
    mask = pc.and_(
        pc.and_(pc.equal(t["venue"], venue), pc.equal(t["asset"], asset)),
        pc.and_(
            pc.greater_equal(pc.cast(t[time_col], "int64"), lo), pc.less(pc.cast(t[time_col], "int64"), hi)
        ),
    )
    return t.filter(mask)


@pytest.mark.parametrize("limit", [1, 7, 24, 500])
def test_oi_pages_have_no_gaps_or_duplicates(sandbox, limit):
    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        raw = binance._paginate(
            http,
            "/futures/data/openInterestHist",
            {"symbol": "ETHUSDT", "period": "1h"},
            START,
            END,
            lambda r: int(r["timestamp"]),
            limit=limit,
            step_ms=HOUR_MS,
        )
    times = [r["timestamp"] for r in raw]
    expected = truth(sandbox.state.market, "hourly", "binance", "ETH", "ts", START, END)
    up = expected.filter(expected["venue_up"])  # the outage hour has no statistics row
    assert times == [t.value for t in up["ts"]]
    assert [float(r["sumOpenInterest"]) for r in raw] == pytest.approx(up["oi_coin"].to_pylist(), rel=1e-9)


def test_funding_over_several_days_matches_the_market(sandbox):
    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        table = binance.fetch_funding_rates(http, "SOL", START, END)
    expected = truth(sandbox.state.market, "funding", "binance", "SOL", "funding_time", START, END)
    assert table.num_rows == expected.num_rows > 0
    assert table["funding_rate"].to_pylist() == pytest.approx(expected["funding_rate"].to_pylist(), abs=1e-8)


def test_klines_cover_every_hour_once(sandbox):
    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        table = binance.fetch_klines(http, "XRP", START, END)
    hours = (END - START) // HOUR_MS
    for price_type in ("last", "mark", "index"):
        part = table.filter(pc.equal(table["price_type"], price_type))
        assert part.num_rows == hours
        assert pc.count_distinct(part["open_time"]).as_py() == hours


def test_unknown_asset_is_a_clear_error():
    with pytest.raises(UnknownSymbolError, match="unknown asset 'PEPE'"):
        binance.fetch_funding_rates(None, "PEPE", START, END)


def test_days_beyond_retention_are_written_empty_with_a_status(sandbox, tmp_path):
    lake = Lake(tmp_path)
    clock = sandbox.state.clock_ms
    # 40 days later, the 30-day OI history no longer reaches the scenario's days
    later = clock + 40 * 86_400_000
    requests_before = len(sandbox.state.requests)
    with binance.make_http(sandbox.base_url("binance"), sleep=lambda s: None) as http:
        results = ingest_days(
            "binance",
            binance.DATASETS["open_interest"],
            [date(2025, 10, 10)],
            http=http,
            lake=lake,
            now_ms=later,
        )
    assert len(sandbox.state.requests) == requests_before  # nothing was asked of the venue
    assert [(r.rows, r.status) for r in results] == [(0, "beyond_retention")]
    assert lake.partition_status("binance", "open_interest", date(2025, 10, 10)) == "beyond_retention"
