"""The sandbox's ETF flows, derived from the simulated market: every fund's daily creations and redemptions (US$m).

Pure functions of the market (`etf_flows`), so the route (routes/farside.py) only renders them as Farside's pages
and tests recompute them as ground truth.

For every day the published history covers (pipelines/sandbox/data/etf_flows/, real Farside figures; see its
ORIGIN.md), the flows are the published rows. Outside it they come from a model over the simulated prices, so that
money leaves the funds after sell-offs: on each US trading day, the underlying's day total is

    base + sensitivity x (trailing 3-day return at the US close, in %) + noise,

split over the funds by fixed shares, with fund-level noise; smaller funds often see no creations or redemptions
(0.0). Noise is seeded by (scenario seed, underlying, day), so every process serves the same numbers. Rows exist
for the US trading days of the scenario window whose US close (16:00 New York) the simulation reaches; a fund has
no reading (None) before its launch (pipelines/lib/etf_tickers.py).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lib import etf_tickers
from pipelines.lib.timeutil import HOUR_MS
from pipelines.lib.us_market_calendar import is_trading_day, market_close_utc
from pipelines.sandbox.market import Market


@dataclass(frozen=True)
class FundModel:
    ticker: str
    share: float  # of the underlying's day total
    idle: float  # probability of a 0.0 day (no creations or redemptions)
    noise_usd_m: float
    bias_usd_m: float = 0.0  # a fund's own drift (GBTC's fees drive steady redemptions)
    fee: str = "0.25%"


@dataclass(frozen=True)
class UnderlyingModel:
    base_usd_m: float  # a flat day's total
    sensitivity_usd_m: float  # per 1% of trailing 3-day return
    noise_usd_m: float
    funds: tuple[FundModel, ...]


MODELS = {
    "BTC": UnderlyingModel(
        60.0,
        45.0,
        90.0,
        (
            FundModel("IBIT", 0.46, 0.10, 25.0, fee="0.25%"),
            FundModel("FBTC", 0.20, 0.15, 15.0),
            FundModel("BITB", 0.06, 0.40, 6.0, fee="0.20%"),
            FundModel("ARKB", 0.08, 0.35, 8.0, fee="0.21%"),
            FundModel("BTCO", 0.02, 0.70, 3.0),
            FundModel("EZBC", 0.02, 0.70, 3.0, fee="0.19%"),
            FundModel("BRRR", 0.01, 0.75, 2.0),
            FundModel("HODL", 0.03, 0.50, 4.0, fee="0.20%"),
            FundModel("BTCW", 0.01, 0.80, 2.0),
            FundModel("GBTC", 0.06, 0.40, 10.0, bias_usd_m=-15.0, fee="1.50%"),
            FundModel("BTC", 0.05, 0.50, 6.0, fee="0.15%"),
        ),
    ),
    "ETH": UnderlyingModel(
        20.0,
        12.0,
        35.0,
        (
            FundModel("ETHA", 0.55, 0.10, 10.0),
            FundModel("FETH", 0.18, 0.20, 6.0),
            FundModel("ETHW", 0.05, 0.50, 3.0, fee="0.20%"),
            FundModel("TETH", 0.02, 0.70, 1.5, fee="0.21%"),
            FundModel("ETHV", 0.03, 0.60, 2.0, fee="0.20%"),
            FundModel("QETH", 0.01, 0.80, 1.0),
            FundModel("EZET", 0.01, 0.80, 1.0, fee="0.19%"),
            FundModel("ETHE", 0.07, 0.40, 5.0, bias_usd_m=-6.0, fee="2.50%"),
            FundModel("ETH", 0.08, 0.40, 4.0, fee="0.15%"),
        ),
    ),
    "SOL": UnderlyingModel(
        8.0,
        1.5,
        6.0,
        (
            FundModel("BSOL", 0.60, 0.10, 3.0, fee="0.20%"),
            FundModel("VSOL", 0.06, 0.60, 0.8, fee="0.30%"),
            FundModel("FSOL", 0.10, 0.50, 1.0),
            FundModel("TSOL", 0.04, 0.70, 0.5, fee="0.21%"),
            FundModel("SOEZ", 0.03, 0.70, 0.5, fee="0.19%"),
            FundModel("MSOL", 0.02, 0.80, 0.5),
            FundModel("GSOL", 0.15, 0.40, 1.5, fee="0.35%"),
        ),
    ),
}
UNDERLYING_INDEX = {asset: i for i, asset in enumerate(MODELS)}
LOOKBACK_DAYS = 3
PUBLISHED_DIR = Path(__file__).parent / "data" / "etf_flows"
PUBLISHED_FILES = {"BTC": "btc_flows.csv", "ETH": "eth_flows.csv"}

Published = dict[date, dict[str, float | None]]


@functools.cache
def published_flows(asset: str) -> Published:
    """The real daily history (US$m per fund) for `asset`, by day; empty where none is bundled.

    The files' quirks: a bogus first row on 1 January 2024 (not a trading day: rows on non-trading days are
    dropped), the total in the last column whatever its header (`COL11` for ETH; the page sums its own), and `0`
    for funds not yet launched (Farside shows '-': None here)."""
    name = PUBLISHED_FILES.get(asset)
    if name is None:
        return {}
    with (PUBLISHED_DIR / name).open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    tickers = rows[0][1:-1]
    history: Published = {}
    for row in rows[1:]:
        day = date.fromisoformat(row[0])
        if not is_trading_day(day):
            continue
        history[day] = {
            ticker: float(value) + 0.0 if day >= etf_tickers.fund(asset, ticker).launched else None
            for ticker, value in zip(tickers, row[1:-1], strict=True)
        }
    return history


def page_tickers(asset: str, published: Published, first: date, last: date) -> list[str]:
    """The model's funds, then any fund only the published history names with a reading in [first, last]: a fund
    launched after the window is not a column of its pages, as on Farside then."""
    tickers = [fm.ticker for fm in MODELS[asset].funds]
    for day, flows in published.items():
        if first <= day <= last:
            tickers += [t for t, v in flows.items() if v is not None and t not in tickers]
    return tickers


def _us_close_prices(market: Market, asset: str) -> dict[int, float]:
    """Hour-end time (ms) -> the underlying's index price then, the mean over the venues."""
    hourly = market.hourly.filter(pc.equal(market.hourly["asset"], asset))
    grouped = hourly.group_by("ts").aggregate([("index_close", "mean")])
    ts = grouped["ts"].cast(pa.int64()).to_numpy()
    return dict(zip((ts + HOUR_MS).tolist(), grouped["index_close_mean"].to_numpy().tolist(), strict=True))


def _price_at(prices: dict[int, float], ms: int, first_ms: int) -> float:
    return prices[max(ms, first_ms)]  # before the simulation starts: its first price


def etf_flows(market: Market, asset: str, published: Published | None = None) -> pa.Table:
    """The ground truth: every fund's flow (US$m, None before its launch) on every US trading day of the window.

    Columns: day (date), ticker, issuer, flow_usd_m, trailing_return_pct. Rows come in page order (day, then
    column). A fund's flow is rounded to 0.1 like Farside's cells; the day's total is the sum of those. Days the
    published history holds (default: the bundled real one) are its rows; the model fills every other day.
    """
    published = published_flows(asset) if published is None else published
    model = MODELS[asset]
    scenario = market.scenario
    tickers = page_tickers(asset, published, scenario.start, scenario.end)
    prices = _us_close_prices(market, asset)
    if not prices:
        return _empty_truth()
    first_ms, last_ms = min(prices), max(prices)
    rows = []
    day = scenario.start
    while day <= scenario.end:
        close_ms = int(market_close_utc(day).timestamp() * 1000)
        if is_trading_day(day) and close_ms <= last_ms:
            before = _price_at(prices, close_ms - LOOKBACK_DAYS * 24 * HOUR_MS, first_ms)
            trailing_pct = 100.0 * (prices[close_ms] / before - 1.0)
            if day in published:
                rows += [
                    {
                        "day": day,
                        "ticker": ticker,
                        "issuer": etf_tickers.issuer(asset, ticker),
                        "flow_usd_m": published[day].get(ticker),
                        "trailing_return_pct": trailing_pct,
                    }
                    for ticker in tickers
                ]
                day += timedelta(1)
                continue
            rng = np.random.default_rng([scenario.seed, UNDERLYING_INDEX[asset], day.toordinal()])
            total = (
                model.base_usd_m + model.sensitivity_usd_m * trailing_pct + rng.normal(0, model.noise_usd_m)
            )
            for fm in model.funds:
                idle, noise = (
                    rng.random(),
                    rng.normal(0, fm.noise_usd_m),
                )  # drawn for every fund: stable order
                listed = day >= etf_tickers.fund(asset, fm.ticker).launched
                flow = round(fm.share * total + fm.bias_usd_m + noise, 1) if idle >= fm.idle else 0.0
                rows.append(
                    {
                        "day": day,
                        "ticker": fm.ticker,
                        "issuer": etf_tickers.issuer(asset, fm.ticker),
                        "flow_usd_m": (flow + 0.0) if listed else None,  # + 0.0 turns -0.0 into 0.0
                        "trailing_return_pct": trailing_pct,
                    }
                )
            rows += [  # funds only the published history names have no reading on modelled days
                {
                    "day": day,
                    "ticker": ticker,
                    "issuer": etf_tickers.issuer(asset, ticker),
                    "flow_usd_m": None,
                    "trailing_return_pct": trailing_pct,
                }
                for ticker in tickers[len(model.funds) :]
            ]
        day += timedelta(1)
    return pa.Table.from_pylist(rows, schema=_TRUTH_SCHEMA)


_TRUTH_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("ticker", pa.string()),
        ("issuer", pa.string()),
        ("flow_usd_m", pa.float64()),
        ("trailing_return_pct", pa.float64()),
    ]
)


def _empty_truth() -> pa.Table:
    return _TRUTH_SCHEMA.empty_table()
