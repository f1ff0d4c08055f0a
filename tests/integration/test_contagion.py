"""Contagion against the sandbox's ground truth, on a market the indices were not tuned on (tests/fixtures/
scenario_contagion.yaml: two quiet weeks, the 10 Oct crash, OKX's minute prices ahead of the others').

- Spillover: the function the dbt model int_contagion_spillover_windows runs (pipelines.lib.contagion
  .spillover_table, the dbt vars' defaults) on the simulator's own hourly truth, prepared as the model's input is
  (ln of mark close over the previous hour's; ln(1 + liquidated USD)). Cheaper than filling three weeks of lake.
- Lead-lag: the sandbox serves the crash day's minute klines, the real clients write them to a lake, dbt builds
  contagion_lead_lag_daily, and the mart's lag is compared with the scenario's truth log.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.contagion import SpilloverSettings, spillover_table
from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import make_server
from pipelines.venues.registry import VENUE_MODULES
from tests import summary_lines
from tests.integration.test_dbt_marts import run_dbt, source_datasets

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenario_contagion.yaml"
CRASH_DAY = date(2025, 10, 10)
LEAD_VENUES = ("binance", "bybit", "okx")


@pytest.fixture(scope="module")
def contagion_sandbox(tmp_path_factory):
    server = make_server(tmp_path_factory.mktemp("contagion_home"), scenario=load_scenario(SCENARIO)).start()
    yield server
    server.stop()


def hourly_series_from_truth(hourly: pa.Table) -> pa.Table:
    """The simulator's hourly table in the shape of int_contagion_hourly_series."""
    h = hourly.sort_by([("venue", "ascending"), ("asset", "ascending"), ("ts", "ascending")])
    node = np.array([f"{v}:{a}" for v, a in zip(h["venue"].to_pylist(), h["asset"].to_pylist(), strict=True)])
    ts = h["ts"]
    mark = h["mark_close"].to_numpy()
    same = np.r_[False, node[1:] == node[:-1]]
    returns = np.where(same, np.log(mark / np.r_[np.nan, mark[:-1]]), np.nan)
    liquidated = h["liq_long_usd"].to_numpy() + h["liq_short_usd"].to_numpy()
    keep = np.isfinite(returns)
    return pa.table(
        {
            "measure": ["returns"] * int(keep.sum()) + ["liquidations"] * len(node),
            "node": np.r_[node[keep], node].tolist(),
            "ts": pa.concat_arrays([ts.combine_chunks().filter(pa.array(keep)), ts.combine_chunks()]),
            "value": np.r_[returns[keep], np.log1p(liquidated)],
        }
    )


def test_spillover_rises_around_the_crash_against_the_quiet_weeks_before(contagion_sandbox):
    market = contagion_sandbox.state.market
    crash = next(e for e in market.truth["events"] if e["type"] == "shock" and e["name"] == "tariff-crash")
    crash_day = date.fromtimestamp(crash["start_ms"] / 1000)
    assert crash_day == CRASH_DAY
    table = spillover_table(hourly_series_from_truth(market.hourly), SpilloverSettings())
    rows = table.to_pylist()
    for measure in ("returns", "liquidations"):
        daily = {r["date"]: r["total_spillover_index"] for r in rows if r["measure"] == measure}
        quiet = [
            v for d, v in daily.items() if v is not None and d <= date(2025, 10, 7)
        ]  # windows end 3 days before
        around = [v for d, v in daily.items() if v is not None and CRASH_DAY <= d <= date(2025, 10, 12)]
        summary_lines.add(
            "spillover around the crash against the quiet weeks before",
            f"{measure}: quiet weeks {np.mean(quiet):.1f} (n={len(quiet)}, max {max(quiet):.1f}); "
            f"around the crash {np.mean(around):.1f} (n={len(around)})",
        )
        assert len(quiet) >= 7 and len(around) == 3
        assert all(0 <= v <= 100 for v in quiet + around)
        assert np.mean(around) > np.mean(quiet)
        if measure == "returns":  # prices: every crash-window day above every quiet day
            assert min(around) > max(quiet)
    node_rows = [r for r in rows if r["node"] is not None]
    assert all(0 <= r["to_others"] <= 100 and 0 <= r["from_others"] <= 100 for r in node_rows)


def fill_minute_lake(sandbox, home: Path, day: date) -> None:
    lake = Lake(home / "lake")
    for venue in LEAD_VENUES:
        module = VENUE_MODULES[venue]
        with module.make_http(sandbox.base_url(venue)) as http:
            results = ingest_days(
                venue,
                module.DATASETS["klines_1m"],
                [day],
                http=http,
                lake=lake,
                now_ms=sandbox.state.market.scenario.clock_ms,
                assets=("BTC", "ETH"),
            )
        assert [r.status for r in results] == ["ok"], results
    for source, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(source, dataset)
    (home / "build").mkdir()


def test_lead_lag_mart_finds_the_lag_the_scenario_set(contagion_sandbox, tmp_path):
    lead = next(e for e in contagion_sandbox.state.market.truth["events"] if e["type"] == "minute_lead")
    assert (lead["venue"], lead["minutes"]) == ("okx", 3)
    fill_minute_lake(contagion_sandbox, tmp_path, CRASH_DAY)
    run_dbt(
        tmp_path,
        "run",
        "--select",
        "+contagion_lead_lag_daily",
        "--vars",
        json.dumps({"contagion_lead_lag_max_minutes": 10}),
    )
    with duckdb.connect(str(tmp_path / "build" / "levwatch.duckdb"), read_only=True) as con:
        pairs = con.execute(
            "select asset, venue_a, venue_b, best_lag_minutes, correlation, leader "
            "from marts.contagion_lead_lag_daily where measure = 'returns' and date = ? order by all",
            [CRASH_DAY],
        ).fetchall()
    print(
        "\n" + "\n".join(f"{a} {va}/{vb}: lag {lag:+d} min, corr {c:.3f}" for a, va, vb, lag, c, _ in pairs)
    )
    assert len(pairs) == 6  # BTC and ETH, three venue pairs each
    for asset, venue_a, venue_b, lag, corr, leader in pairs:
        if lead["venue"] in (venue_a, venue_b):
            # venue_a at t against venue_b at t + lag: the leader's moves show up `minutes` later in the other
            assert lag == (lead["minutes"] if venue_a == lead["venue"] else -lead["minutes"]), (
                asset,
                venue_a,
            )
            assert leader == lead["venue"]
            assert corr > 0.9
        else:
            assert lag == 0 and leader is None
