"""CoinGlass against the sandbox, and raw/coinglass/liquidations in Dagster: absent key (skipped, no request),
present key (rows equal the simulator's forced closes of Binance + OKX + Bybit), wrong key (a clear failure),
and the key string in no log, metadata, error or api_health row."""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize
from dagster._serdes import serialize_value

from pipelines.defs.coinglass.assets import (
    ASSET_KEY,
    COINGLASS_ASSETS,
    SKIPPED_MESSAGE,
    coinglass_assets,
    coinglass_resources,
)
from pipelines.defs.warehouse.dbt import dbt_resource, levwatch_dbt_models
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms
from pipelines.orchestration.resources import VenueGateway, gateway_from_settings
from pipelines.sandbox import SANDBOX_API_KEY
from pipelines.venues import coinglass

WINDOW = ("2025-10-09", "2025-10-12")
START = day_start_ms(date(2025, 10, 9))
END = day_start_ms(date(2025, 10, 13))
WRONG_KEY = "cg-wrong-key-8c3f61b2"
MAKE_HTTP = coinglass.make_http


def truth(
    market, asset: str, step: int, start: int, end: int, venues=("binance", "okx", "bybit")
) -> dict[int, tuple[float, float]]:
    """Long and short USD per bar from the simulator's events on the venues a call aggregates."""
    ev = market.liquidation_events
    ts = ev["ts"].cast(pa.int64()).to_numpy()
    keep = (
        np.isin(ev["venue"].to_numpy(zero_copy_only=False), list(venues))
        & (ev["asset"].to_numpy(zero_copy_only=False) == asset)
        & (ts >= start)
        & (ts < end)
    )
    out: dict[int, list[float]] = {}
    for t, side, usd in zip(
        ts[keep] // step * step,
        ev["side"].to_numpy(zero_copy_only=False)[keep],
        ev["notional_usd"].to_numpy()[keep],
        strict=True,
    ):
        out.setdefault(int(t), [0.0, 0.0])[0 if side == "long" else 1] += float(usd)
    return {t: (v[0], v[1]) for t, v in out.items()}


def assert_bars_match(table: pa.Table, expected: dict[int, tuple[float, float]]) -> None:
    got = {r["ts"]: (r["long_usd"], r["short_usd"]) for r in table.to_pylist()}
    got = {int(t.timestamp() * 1000): v for t, v in got.items()}
    nonzero = {t: v for t, v in got.items() if v != (0.0, 0.0)}
    assert sorted(nonzero) == sorted(expected)
    for t, (long_usd, short_usd) in expected.items():
        assert nonzero[t][0] == pytest.approx(long_usd, rel=1e-9, abs=1e-6)
        assert nonzero[t][1] == pytest.approx(short_usd, rel=1e-9, abs=1e-6)


def test_client_rows_equal_the_sandbox_truth(sandbox):
    http = coinglass.make_http(sandbox.base_url("coinglass"), SANDBOX_API_KEY, sleep=lambda s: None)
    table = coinglass.fetch_liquidation_aggregates(http, "BTC", START, END)
    exchange = table["exchange"].to_numpy(zero_copy_only=False)
    for name, venues in (
        ("All", ("binance", "okx", "bybit")),
        ("Binance", ("binance",)),
        ("Bybit", ("bybit",)),
        ("Hyperliquid", ("hyperliquid",)),
    ):
        for interval, step in (("1h", HOUR_MS), ("1d", DAY_MS)):
            part = table.filter(
                (table["interval"].to_numpy(zero_copy_only=False) == interval) & (exchange == name)
            )
            assert_bars_match(part, truth(sandbox.state.market, "BTC", step, START, END, venues))
    all_daily = (table["interval"].to_numpy(zero_copy_only=False) == "1d") & (exchange == "All")
    assert table.filter(all_daily).num_rows == 4


# -- the Dagster asset --------------------------------------------------------------------------------------------


class ReplayedClock:
    """The CoinGlass limiter's clock in these tests: wall time plus every second the client 'slept'. The sandbox's
    rate-limit windows move by as much (POST /_sandbox/clock), so the venue side enforces its 30/min on the same
    time: the pacing is real, the minutes are not waited out. `sent` holds each request's time on this clock."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.skipped_s = 0.0
        self.sent: list[float] = []

    def now_ms(self) -> int:  # api_health stamps: the wall clock, as the asset's client has live
        return int(time.time() * 1000)

    def monotonic_s(self) -> float:
        return time.monotonic() + self.skipped_s

    def local(self) -> ReplayedClock:
        return self

    def sleep(self, seconds: float) -> None:
        self.skipped_s += seconds
        clock_ms = httpx.get(f"{self.sandbox.url}/_sandbox/health").json()["clock_ms"]
        moved = {"clock_ms": clock_ms + round(seconds * 1000)}
        httpx.post(f"{self.sandbox.url}/_sandbox/clock", json=moved).raise_for_status()

    def transport(self) -> httpx.BaseTransport:
        clock = self

        class Timed(httpx.HTTPTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                clock.sent.append(clock.monotonic_s())
                return super().handle_request(request)

        return Timed()


def most_in_any_window(times: list[float], window_s: float) -> int:
    return max(sum(1 for u in times if t <= u < t + window_s) for t in times)


def run_asset(sandbox, home: Path, monkeypatch, key: str | None, clock: ReplayedClock | None = None):
    monkeypatch.setenv("LEVWATCH_COINGLASS_URL", sandbox.base_url("coinglass"))
    if clock is not None:  # the asset's client paces on the replayed clock
        monkeypatch.setattr(
            coinglass,
            "make_http",
            lambda *a, **kw: MAKE_HTTP(*a, clock=clock, sleep=clock.sleep, transport=clock.transport(), **kw),
        )
    if key is None:
        monkeypatch.delenv(coinglass.KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(coinglass.KEY_ENV, key)
    instance = DagsterInstance.ephemeral()
    resources = {"venue_gateway": VenueGateway(home=str(home), source="live"), **coinglass_resources()}
    tags = {"dagster/asset_partition_range_start": WINDOW[0], "dagster/asset_partition_range_end": WINDOW[1]}
    result = materialize(
        COINGLASS_ASSETS, resources=resources, instance=instance, tags=tags, raise_on_error=False
    )
    return result, instance


def coinglass_requests(sandbox, since: int) -> list[dict]:
    return [r for r in sandbox.state.requests[since:] if r["venue"] == "coinglass"]


def test_without_a_key_the_asset_is_skipped_and_sends_nothing(sandbox, tmp_path, monkeypatch):
    since = len(sandbox.state.requests)
    result, instance = run_asset(sandbox, tmp_path, monkeypatch, key=None)
    assert result.success
    assert result.get_asset_materialization_events() == []
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert SKIPPED_MESSAGE in messages
    assert coinglass_requests(sandbox, since) == []
    assert not (tmp_path / "lake" / "coinglass").exists()


@pytest.mark.parametrize("key", [None, "cg-some-key"])
def test_dbt_lineage_runs_from_the_writing_asset_with_or_without_a_key(key, monkeypatch):
    if key is None:
        monkeypatch.delenv(coinglass.KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(coinglass.KEY_ENV, key)
    defs = Definitions(
        assets=[*coinglass_assets(), levwatch_dbt_models],
        resources={"dbt": dbt_resource(), "venue_gateway": gateway_from_settings(), **coinglass_resources()},
    )
    graph = defs.resolve_asset_graph()
    staging = AssetKey(["staging", "stg_coinglass__liquidation_aggregates"])
    assert ASSET_KEY in graph.get(staging).parent_keys
    # two sources read the OKX liquidation files (rows, and their metadata): both lead back to the writing asset
    okx_key = AssetKey(["raw", "okx", "liquidations"])
    for model in ("stg_okx__liquidations", "stg_okx__liquidation_partitions"):
        assert graph.get(AssetKey(["staging", model])).parent_keys == {okx_key}
    node = graph.get(ASSET_KEY)
    # without a key the asset never runs, so a run of everything is not skipped behind it; it says why
    assert node.is_executable == (key is not None)
    if key is None:
        assert SKIPPED_MESSAGE in node.metadata["status"]


def test_with_the_key_the_lake_holds_the_truth(sandbox, tmp_path, monkeypatch):
    clock = ReplayedClock(sandbox)
    result, _ = run_asset(sandbox, tmp_path, monkeypatch, key=SANDBOX_API_KEY, clock=clock)
    assert result.success
    # 5 assets x 2 intervals x (All + each of SERIES_EXCHANGES): more than one minute's budget, so the limiter had
    # to pace them
    requests = 5 * 2 * (1 + len(coinglass.SERIES_EXCHANGES))
    assert requests == 50 and len(clock.sent) == requests and clock.skipped_s > 0
    assert most_in_any_window(clock.sent, coinglass.RATE_WINDOW_S) <= coinglass.LIMITER_CAPACITY
    health = [
        row
        for path in (tmp_path / "lake" / "coinglass" / "api_health").rglob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    ]
    assert len(health) == requests and all(
        row["ok"] and row["status"] == 200 for row in health
    )  # never a 429
    materialized = result.get_asset_materialization_events()
    assert {e.asset_key for e in materialized} == {ASSET_KEY} and len(materialized) == 4  # one per day
    lake = Lake(tmp_path / "lake")
    days = [date(2025, 10, 9 + i) for i in range(4)]
    table = pa.concat_tables(lake.read_partition("coinglass", "liquidation_aggregates", d) for d in days)
    for asset in ("BTC", "DOGE"):
        mine = table.filter(
            (table["asset"].to_numpy(zero_copy_only=False) == asset)
            & (table["exchange"].to_numpy(zero_copy_only=False) == "All")
        )
        for interval, step in (("1h", HOUR_MS), ("1d", DAY_MS)):
            part = mine.filter(mine["interval"].to_numpy(zero_copy_only=False) == interval)
            assert_bars_match(part, truth(sandbox.state.market, asset, step, START, END))
    again, _ = run_asset(sandbox, tmp_path, monkeypatch, key=SANDBOX_API_KEY, clock=ReplayedClock(sandbox))
    # a re-run duplicates nothing
    assert again.success
    rerun = pa.concat_tables(lake.read_partition("coinglass", "liquidation_aggregates", d) for d in days)
    assert rerun.num_rows == table.num_rows


def test_a_wrong_key_fails_clearly_and_the_key_appears_nowhere(sandbox, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    result, instance = run_asset(sandbox, tmp_path, monkeypatch, key=WRONG_KEY)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert "rejected the API key" in error.to_string() and coinglass.KEY_ENV in error.to_string()

    # everything Dagster recorded (logs, metadata, errors with their causes), Python logging, and the lake
    texts = [serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    texts += [serialize_value(e) for e in result.all_events]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    health = list((tmp_path / "lake" / "coinglass" / "api_health").rglob("*.parquet"))
    assert health, "the failed call must still be logged as api_health"
    rows = [row for path in health for row in pq.read_table(path).to_pylist()]
    assert rows and all(row["status"] == 401 and not row["ok"] for row in rows)
    texts += [str(row) for row in rows]
    texts += [
        path.read_bytes().decode("latin-1") for path in (tmp_path / "lake").rglob("*") if path.is_file()
    ]
    assert texts
    assert not [t for t in texts if WRONG_KEY in t]
