from dataclasses import replace
from datetime import date

import pyarrow as pa

from pipelines.ingest import DayResult
from pipelines.lake import SCHEMAS, Lake
from pipelines.lib.raw_checks import emptied_columns, run_checks, value_violations
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


# -- null rate: a column that was filled and is now empty (a renamed optional field) ----------------------------


def oi_day(day, oi_usd):
    """Two hourly OI rows on `day`, with oi_usd as given (None: the field did not arrive)."""
    t0 = T0 + (day - DAY).days * 86_400_000
    return pa.Table.from_pylist(
        [
            {
                "venue": "binance",
                "asset": "BTC",
                "symbol": "BTCUSDT",
                "ts": t0 + i * 3_600_000,
                "oi_coin": 10.0,
                "oi_usd": oi_usd,
                "oi_contracts": None,
                "raw": "{}",
            }
            for i in range(2)
        ],
        schema=SCHEMAS["open_interest"],
    )


def test_emptied_columns_are_judged_against_each_columns_own_history():
    filled = {"a": (0, 10), "b": (10, 10), "c": (1, 10)}
    assert emptied_columns([filled, filled], {"a": (5, 5), "b": (5, 5), "c": (5, 5)}) == ["a", "c"]
    assert emptied_columns([filled], {"a": (4, 5), "b": (5, 5), "c": (0, 5)}) == []  # partly null: not empty
    assert emptied_columns([], {"a": (5, 5)}) == []  # no history: nothing to compare with
    assert emptied_columns([filled], {"a": (0, 0)}) == []  # a day without rows
    sparse = {"a": (2, 10)}  # 20% null over its history: was not "filled"
    assert emptied_columns([sparse], {"a": (5, 5)}) == []
    assert emptied_columns([filled], {"a": (5, 5)}, exempt={"a"}) == []


def test_a_column_that_empties_after_days_of_values_is_an_error_naming_day_and_column(tmp_path):
    lake = Lake(tmp_path)
    days = [date(2025, 10, 7), date(2025, 10, 8), date(2025, 10, 9), DAY]
    for day in days[:3]:
        lake.write_partition("binance", "open_interest", day, oi_day(day, 1000.0))
    lake.write_partition("binance", "open_interest", DAY, oi_day(DAY, None))  # the field was renamed
    results = [DayResult(d, 2, "ok", per_asset={"BTC": 2}) for d in days]
    spec = replace(binance.DATASETS["open_interest"], assets=("BTC",))
    outcome = {o.name: o for o in run_checks(lake, "binance", spec, results)}["null_rate"]
    assert not outcome.passed and not outcome.warn_only  # an ERROR, not a warning
    assert outcome.message == (
        "1 partitions with a column that emptied: 2025-10-10: oi_usd null in all 2 rows, "
        "filled over the 3 partitions before"
    )
    # oi_contracts was never filled: its nulls are no news; and the history of earlier runs counts too
    again = run_checks(lake, "binance", spec, results[3:])
    assert {o.name: o for o in again}["null_rate"].metadata["failing"] == 1


def test_a_column_filled_again_passes(tmp_path):
    lake = Lake(tmp_path)
    for day in (date(2025, 10, 8), date(2025, 10, 9), DAY):
        lake.write_partition("binance", "open_interest", day, oi_day(day, 1000.0))
    outcomes = run_checks(
        lake, "binance", binance.DATASETS["open_interest"], [DayResult(DAY, 2, "ok", per_asset={"BTC": 2})]
    )
    assert {o.name: o for o in outcomes}["null_rate"].passed


def test_farside_days_without_readings_are_not_an_emptied_column(tmp_path):
    """'-' for every fund is Farside's "no reading yet" on the newest day, not a renamed field."""
    from pipelines.venues import farside

    lake = Lake(tmp_path)
    schema = SCHEMAS["etf_flows"]

    def flows(day, value):
        ts = T0 + (day - DAY).days * 86_400_000
        return pa.Table.from_pylist(
            [
                {"venue": "farside", "asset": "BTC", "symbol": s, "ts": ts, "flow_usd": value, "issuer": "x"}
                | {"source": "html", "raw": "{}"}
                for s in ("IBIT", "FBTC")
            ],
            schema=schema,
        )

    thursday, friday = date(2025, 10, 9), DAY
    lake.write_partition("farside", "etf_flows", thursday, flows(thursday, 1e6))
    lake.write_partition("farside", "etf_flows", friday, flows(friday, None))
    results = [DayResult(friday, 2, "ok", per_asset={"BTC": 2, "ETH": 1, "SOL": 1})]
    outcomes = {o.name: o for o in run_checks(lake, "farside", farside.DATASETS["etf_flows"], results)}
    assert outcomes["null_rate"].passed
