"""The estimated book of liquidation levels on cases worked by hand."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.lib.liquidation_book import (
    Bar,
    Hour,
    LiquidationBook,
    daily_curves,
    liquidation_price,
    maintenance,
)


def one_tier_book(leverage: float = 10.0, mmr: float = 0.005) -> LiquidationBook:
    return LiquidationBook("binance", "BTC", tiers=(leverage,), weights=(1.0,), mmr=mmr)


def test_liquidation_price_isolated_margin():
    # long 10x at 100 with 0.5% maintenance: 100 x (1 - 0.1 + 0.005) = 90.5; short: 100 x (1 + 0.1 - 0.005)
    assert liquidation_price(100, 10, 0.005, "long") == pytest.approx(90.5)
    assert liquidation_price(100, 10, 0.005, "short") == pytest.approx(109.5)
    with pytest.raises(ValueError, match="side"):
        liquidation_price(100, 10, 0.005, "flat")


def test_new_oi_enters_at_the_typical_price_split_by_long_share():
    book = one_tier_book()
    # typical price (110 + 90 + 100) / 3 = 100; 10 coins, 60% long: 6 long at 90.5, 4 short at 109.5
    book.step(Hour(high=110, low=90, close=100, oi_coin=10, long_share=0.6))
    # the hour's low (90) is below 90.5, but the levels entered this hour are only swept from the next hour on
    assert book.total("long") == pytest.approx(6)
    assert book.total("short") == pytest.approx(4)
    assert book.liquidatable_usd(100, -0.10) == pytest.approx(6 * 90.5)  # 90 <= 90.5
    assert book.liquidatable_usd(100, -0.05) == 0  # 95 > 90.5
    assert book.liquidatable_usd(100, 0.10) == pytest.approx(4 * 109.5)
    assert book.liquidatable_usd(100, 0.09) == 0  # 109 < 109.5
    assert book.liquidatable_usd(100, 0) == 0


def test_levels_traded_through_leave_the_book_before_the_oi_is_reconciled():
    book = one_tier_book()
    book.step(
        Hour(high=100, low=100, close=100, oi_coin=10, long_share=0.5)
    )  # 5 long at 90.5, 5 short at 109.5
    # the next hour trades down to 90: the longs are liquidated; OI unchanged means 5 new longs entered at
    # (100 + 90 + 95) / 3 = 95 -> level 95 x 0.905 = 85.975
    book.step(Hour(high=100, low=90, close=95, oi_coin=10, long_share=0.5))
    assert book.total("long") == pytest.approx(5)
    assert book.liquidatable_usd(95, -0.05) == 0  # 90.25 > 85.975: the old 90.5 level is gone
    assert book.liquidatable_usd(100, -0.15) == pytest.approx(5 * 85.975)  # 85 <= 85.975


def test_oi_falls_take_levels_out_proportionally():
    book = LiquidationBook("binance", "BTC", tiers=(5.0, 10.0), weights=(0.5, 0.5), mmr=0.0)
    book.step(Hour(high=100, low=100, close=100, oi_coin=8, long_share=0.5))  # 2 + 2 long at 80 and 90
    book.step(Hour(high=101, low=99, close=100, oi_coin=4, long_share=0.5))  # half of every level goes
    assert book.liquidatable_usd(100, -0.10) == pytest.approx(1 * 90)
    assert book.liquidatable_usd(100, -0.20) == pytest.approx(1 * 90 + 1 * 80)


def test_tiers_above_the_venue_maximum_are_capped():
    mmr, max_lev = maintenance("hyperliquid", "BTC")
    assert (mmr, max_lev) == (0.0125, 40)
    book = LiquidationBook("hyperliquid", "BTC", tiers=(100.0,), weights=(1.0,))
    book.step(Hour(high=100, low=100, close=100, oi_coin=2, long_share=0.5))
    # 40x, not 100x: 100 x (1 - 1/40 + 0.0125) = 98.75
    assert book.liquidatable_usd(100, -0.0125) == pytest.approx(98.75)
    assert book.liquidatable_usd(100, -0.012) == 0


def test_missing_oi_only_sweeps_and_bad_input_is_refused():
    book = one_tier_book()
    book.step(Hour(high=100, low=100, close=100, oi_coin=10, long_share=None))  # no share: 50/50
    assert book.total("long") == pytest.approx(5)
    book.step(Hour(high=120, low=95, close=110, oi_coin=None, long_share=None))  # shorts at 109.5 swept
    assert book.total("short") == 0 and book.total("long") == pytest.approx(5)
    with pytest.raises(ValueError, match="price bar"):
        book.step(Hour(high=90, low=100, close=95, oi_coin=1, long_share=0.5))
    with pytest.raises(ValueError, match="OI or long share"):
        book.step(Hour(high=100, low=99, close=100, oi_coin=-1, long_share=0.5))


def test_daily_curves_read_each_day_at_its_last_hour_and_are_monotonic():
    def bar(day: int, close: float, oi: float) -> Bar:
        return Bar(
            "okx",
            "ETH",
            date(2025, 10, day),
            Hour(high=close, low=close, close=close, oi_coin=oi, long_share=0.5),
        )

    no_oi = Bar(
        "bybit", "ETH", date(2025, 10, 9), Hour(high=100, low=100, close=100, oi_coin=None, long_share=None)
    )
    rows = daily_curves(
        [bar(9, 100, 10), no_oi, bar(9, 100, 10), bar(10, 200, 30)], shocks_pct=(-20, -10, 10, 20)
    )
    by_key = {(r[2], r[3]): r for r in rows}
    assert len(rows) == 8 and {r[0] for r in rows} == {"okx"}  # a venue without OI readings has no book
    # day 9 ends at 100 with 5 long coins over the default tiers; day 10 adds 10 long coins at 200
    assert by_key[(date(2025, 10, 9), -20)][4] == 100
    assert by_key[(date(2025, 10, 10), -10)][4] == 200
    for day in (date(2025, 10, 9), date(2025, 10, 10)):
        assert by_key[(day, -20)][5] >= by_key[(day, -10)][5] > 0
        assert by_key[(day, 20)][5] >= by_key[(day, 10)][5] > 0
    # 5x (35%) at 0.8 + mmr 0.4% from 100 = 80.4 is within -20% only
    book = LiquidationBook("okx", "ETH")
    book.step(Hour(high=100, low=100, close=100, oi_coin=10, long_share=0.5))
    assert by_key[(date(2025, 10, 9), -20)][5] == pytest.approx(book.liquidatable_usd(100, -0.20))
    assert book.liquidatable_usd(100, -0.20) - book.liquidatable_usd(100, -0.19) == pytest.approx(
        5 * 0.35 * 80.4
    )
