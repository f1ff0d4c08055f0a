from datetime import date

import pyarrow as pa

from pipelines.ingest import DayResult
from pipelines.lake import SCHEMAS, Lake
from pipelines.lib.raw_checks import run_checks, value_violations
from pipelines.venues import binance

DAY = date(2025, 10, 10)
T0 = 1760054400000


def oi_rows(values):
    return pa.Table.from_pylist(
        [
            {
                "venue": "binance",
                "asset": "BTC",
                "symbol": "BTCUSDT",
                "ts": T0 + i * 3_600_000,
                "oi_coin": v,
                "oi_usd": None,
                "oi_contracts": None,
                "raw": "{}",
            }
            for i, v in enumerate(values)
        ],
        schema=SCHEMAS["open_interest"],
    )


def test_value_sanity_flags_each_kind_of_impossible_value():
    assert value_violations("open_interest", oi_rows([1.0, 0.0])) == []
    assert value_violations("open_interest", oi_rows([1.0, -2.0])) == ["1 rows with oi_coin < 0"]
    funding = pa.Table.from_pylist(
        [
            {"funding_rate": 0.004, "funding_interval_hours": 1.0},
            {"funding_rate": 0.004, "funding_interval_hours": None},
        ]
    )
    assert value_violations("funding_rates", funding) == ["1 rows with |funding| >= 3% per 8h"]
    shares = pa.Table.from_pylist([{"long_share": 0.5}, {"long_share": 1.2}, {"long_share": None}])
    assert value_violations("long_short_ratios", shares) == ["1 rows with long_share outside [0, 1]"]
    prices = pa.Table.from_pylist([{"open": 1.0, "high": 1.0, "low": 0.0, "close": 1.0}])
    assert value_violations("klines", prices) == ["1 rows with low <= 0"]


def test_checks_name_the_failing_day_and_missing_asset(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition("binance", "open_interest", DAY, oi_rows([5.0, -1.0]))
    results = [DayResult(DAY, 2, "ok", per_asset={"BTC": 2, "ETH": 0})]
    outcomes = {o.name: o for o in run_checks(lake, "binance", binance.DATASETS["open_interest"], results)}
    assert outcomes["schema"].passed and outcomes["duplicate_keys"].passed
    assert (
        not outcomes["value_sanity"].passed
        and "2025-10-10: 1 rows with oi_coin < 0" in outcomes["value_sanity"].message
    )
    assert not outcomes["non_empty"].passed and "no rows for ETH" in outcomes["non_empty"].message


def test_empty_days_beyond_retention_are_not_a_failure(tmp_path):
    lake = Lake(tmp_path)
    lake.write_partition(
        "binance", "open_interest", DAY, SCHEMAS["open_interest"].empty_table(), status="beyond_retention"
    )
    outcomes = run_checks(
        lake, "binance", binance.DATASETS["open_interest"], [DayResult(DAY, 0, "beyond_retention")]
    )
    assert all(o.passed for o in outcomes)


def test_a_quiet_day_is_only_a_warning_where_the_dataset_may_be_empty(tmp_path):
    from dataclasses import replace

    lake = Lake(tmp_path)
    lake.write_partition("binance", "open_interest", DAY, oi_rows([5.0]))
    results = [DayResult(DAY, 1, "ok", per_asset={"BTC": 1, "ETH": 0})]
    quiet = replace(binance.DATASETS["open_interest"], may_be_empty=True)
    outcome = {o.name: o for o in run_checks(lake, "binance", quiet, results)}["non_empty"]
    assert not outcome.passed and outcome.warn_only
    strict = {o.name: o for o in run_checks(lake, "binance", binance.DATASETS["open_interest"], results)}[
        "non_empty"
    ]
    assert not strict.passed and not strict.warn_only


def test_days_a_dataset_expects_no_rows_on_are_not_missing(tmp_path):
    """ETF flows: a weekend, or a day before an underlying's first fund, is empty by nature."""
    from pipelines.venues import farside

    lake = Lake(tmp_path)
    spec = farside.DATASETS["etf_flows"]
    saturday, friday = date(2025, 10, 11), date(2025, 10, 10)
    for day in (saturday, friday):
        lake.write_partition("farside", "etf_flows", day, SCHEMAS["etf_flows"].empty_table())
    results = [
        DayResult(saturday, 0, "ok", per_asset={"BTC": 0, "ETH": 0, "SOL": 0}),
        DayResult(friday, 0, "ok", per_asset={"BTC": 0, "ETH": 1, "SOL": 0}),  # SOL's funds came on 28 Oct
    ]
    outcomes = {o.name: o for o in run_checks(lake, "farside", spec, results)}
    assert not outcomes["non_empty"].passed
    assert outcomes["non_empty"].message.endswith("2025-10-10: no rows for BTC")
