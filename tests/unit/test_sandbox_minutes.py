"""The simulator's minute path and the sandbox's minute candles: a bridge solvable by hand, exact agreement with
the hourly candles, the candle under way, and Hyperliquid's price strings."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from pipelines.sandbox.market import minute_paths, simulate
from pipelines.sandbox.minutes import MINUTE_MS, MinuteBook
from pipelines.sandbox.routes.hyperliquid import _px
from pipelines.sandbox.scenario import load_scenario
from tests.conftest import SMALL_SCENARIO


@pytest.fixture(scope="module")
def market():
    return simulate(load_scenario(SMALL_SCENARIO))


def test_one_step_is_bridged_minute_by_minute_as_worked_by_hand():
    exo = np.array([[[0.0, -0.01, -0.03, -0.02, -0.04]]])  # one asset, one 5-minute step
    step_ohlc = np.array([[[0.0, 0.0, -0.07, -0.06]]])  # the cascade took the low to -0.07
    got = minute_paths(exo, np.array([[0.0]]), np.array([[-0.02]]), step_ohlc)[0]
    # impact bridged 0 -> -0.02: 0, -0.005, -0.01, -0.015, -0.02 on top of the exogenous path
    closes = [0.0, -0.015, -0.04, -0.035, -0.06]
    opens = [0.0, 0.0, -0.015, -0.04, -0.035]
    highs = [0.0, 0.0, -0.015, -0.035, -0.035]
    lows = [0.0, -0.015, -0.04, -0.04, -0.07]  # the cascade low lands where the exogenous path is lowest
    np.testing.assert_allclose(got, np.array([opens, highs, lows, closes]).T, atol=1e-12)


def test_minute_candles_aggregate_exactly_to_every_venues_hourly_candles(market):
    book = MinuteBook.from_market(market)
    for venue in market.scenario.venues:
        for asset in market.scenario.assets:
            hourly = market.series(venue, asset)
            for price_type, prefix in (("mark", "mark_"), ("last", "")):
                minutes = book.bars(venue, asset, price_type, 0, book.minutes).ohlc.reshape(-1, 60, 4)
                aggregated = np.stack(
                    [minutes[:, 0, 0], minutes[:, :, 1].max(1), minutes[:, :, 2].min(1), minutes[:, -1, 3]], 1
                )
                want = np.stack([hourly[prefix + c].to_numpy() for c in ("open", "high", "low", "close")], 1)
                np.testing.assert_allclose(
                    aggregated, want, rtol=1e-12, err_msg=f"{venue} {asset} {price_type}"
                )


def test_the_minute_grid_covers_the_scenario_once(market):
    book = MinuteBook.from_market(market)
    days = (market.scenario.end - market.scenario.start).days + 1
    assert book.minutes == days * 1440
    ts = pc.cast(market.minutes["ts"], "int64").to_numpy()
    assert len(ts) == days * 1440 * len(market.scenario.assets)
    np.testing.assert_array_equal(book.open_times()[:3], book.start_ms + np.array([0, 1, 2]) * MINUTE_MS)


def test_the_candle_under_way_shows_only_its_open(market):
    book = MinuteBook.from_market(market)
    now = book.start_ms + 10 * MINUTE_MS + 20_000  # 20 s into the eleventh minute
    served = book.served("okx", "BTC", "mark", 0, 100, now)
    assert len(served.ts) == 11
    whole = book.bars("okx", "BTC", "mark", 10, 11).ohlc[0]
    assert list(served.ohlc[-1]) == [whole[0]] * 4
    np.testing.assert_array_equal(served.ohlc[:-1], book.bars("okx", "BTC", "mark", 0, 10).ohlc)


def test_hyperliquid_prices_keep_their_integer_zeros():
    # the fault: zeros were stripped from integers too, so 116840 was served as "11684" (ten times too small)
    assert _px(116840.3) == "116840.0"
    assert _px(100000.0) == "100000.0"
    assert _px(116838.2) == "116838.0"
    assert _px(0.19234567) == "0.19235"
    assert _px(2.5) == "2.5"


def test_a_minute_lead_shifts_only_the_leading_venues_path(market):
    """scenario key minute_lead: the leader's candle at minute t is the index candle at t + k (held at the end);
    every other venue keeps the index path, and the default scenarios set no lead."""
    assert market.scenario.minute_lead_minutes == 0 and MinuteBook.from_market(market).lead_minutes == {}
    plain = MinuteBook.from_market(market)
    led = MinuteBook(plain.start_ms, plain.index_ohlc, plain.premium, plain.basis, lead_minutes={"okx": 3})
    n = plain.minutes
    hour = np.arange(n) // 60
    okx = led.bars("okx", "BTC", "mark", 0, n).ohlc / (1 + plain.premium[("okx", "BTC")][hour])[:, None]
    index = plain.index_ohlc["BTC"]
    np.testing.assert_allclose(okx[:-3], index[3:], rtol=1e-12)
    np.testing.assert_allclose(okx[-3:], np.repeat(index[-1:], 3, axis=0), rtol=1e-12)
    np.testing.assert_array_equal(
        led.bars("binance", "BTC", "mark", 0, n).ohlc, plain.bars("binance", "BTC", "mark", 0, n).ohlc
    )


def test_a_bad_minute_lead_is_refused(tmp_path):
    from pipelines.sandbox.scenario import ScenarioError

    path = tmp_path / "lead.yaml"
    path.write_text(f"extends: {SMALL_SCENARIO}\nminute_lead: {{venue: nowhere, minutes: 3}}\n")
    with pytest.raises(ScenarioError, match="minute_lead"):
        load_scenario(path)
