"""OKX liquidation orders against the sandbox: every page edge, contracts -> coins and the 24-hour retention, each
compared with the simulator's own forced closes (Market.liquidation_events), not with what the route serves."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, iso_to_ms
from pipelines.sandbox.server import SandboxServer
from pipelines.sandbox.serving import SandboxState
from pipelines.venues import okx
from pipelines.venues.http import VenueError

OCT_10 = day_start_ms(date(2025, 10, 10))
OCT_11 = day_start_ms(date(2025, 10, 11))
PATH = "/api/v5/public/liquidation-orders"
CT_VAL = {
    "BTC": 0.01,
    "ETH": 0.1,
    "SOL": 1.0,
    "XRP": 100.0,
    "DOGE": 1000.0,
}  # the sandbox's stated contract sizes


def truth(market, asset: str, start: int, end: int, now: int) -> dict[str, np.ndarray]:
    """The simulator's OKX forced closes of `asset` in [start, end) that the venue still serves at `now`."""
    ev = market.liquidation_events
    ts = ev["ts"].cast(pa.int64()).to_numpy()
    keep = (
        (ev["venue"].to_numpy(zero_copy_only=False) == "okx")
        & (ev["asset"].to_numpy(zero_copy_only=False) == asset)
        & (ts >= max(start, now - DAY_MS + 1))
        & (ts < min(end, now + 1))
    )
    return {
        "ts": ts[keep],
        "side": ev["side"].to_numpy(zero_copy_only=False)[keep],
        "qty_coin": ev["qty_coin"].to_numpy()[keep],
        "notional_usd": ev["notional_usd"].to_numpy()[keep],
    }


def assert_matches(table: pa.Table, expected: dict[str, np.ndarray]) -> None:
    assert table.num_rows == len(expected["ts"])
    assert sorted(table["ts"].cast(pa.int64()).to_pylist()) == sorted(expected["ts"].tolist())
    for side in ("long", "short"):
        mine = table.filter(pc.equal(table["side"], side))
        want = expected["side"] == side
        assert mine.num_rows == int(want.sum())
        assert sum(mine["notional_usd"].to_pylist()) == pytest.approx(
            expected["notional_usd"][want].sum(), rel=1e-8
        )
        assert sum(mine["qty_coin"].to_pylist()) == pytest.approx(expected["qty_coin"][want].sum(), rel=1e-8)


def set_clock(sandbox, iso: str) -> int:
    clock_ms = iso_to_ms(iso)
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"clock_ms": clock_ms}).raise_for_status()
    return clock_ms


def client(sandbox) -> okx.VenueHttp:
    return okx.make_http(sandbox.base_url("okx"), sleep=lambda s: None)


@pytest.mark.parametrize("page_limit", [100, 37])
def test_crash_day_equals_the_simulators_forced_closes(sandbox, page_limit):
    now = set_clock(sandbox, "2025-10-11T00:00:00Z")
    table = okx.fetch_liquidations(client(sandbox), "BTC", OCT_10, OCT_11, page_limit=page_limit)
    expected = truth(sandbox.state.market, "BTC", OCT_10, OCT_11, now)
    assert len(expected["ts"]) > 5 * page_limit  # really many pages
    assert_matches(table, expected)
    assert len(set(table["event_key"].to_pylist())) == table.num_rows


def test_window_edges_on_event_times(sandbox):
    now = set_clock(sandbox, "2025-10-11T00:00:00Z")
    times = truth(sandbox.state.market, "ETH", OCT_10, OCT_11, now)["ts"]
    start, end = int(times[100]), int(times[300])  # both exactly on a liquidation
    table = okx.fetch_liquidations(client(sandbox), "ETH", start, end, page_limit=50)
    assert_matches(table, truth(sandbox.state.market, "ETH", start, end, now))
    got = table["ts"].cast(pa.int64()).to_pylist()
    assert start in got and end not in got


def test_sizes_are_contracts_of_the_instruments_ctval(sandbox):
    set_clock(sandbox, "2025-10-11T00:00:00Z")
    for asset in ("BTC", "DOGE"):
        table = okx.fetch_liquidations(client(sandbox), asset, OCT_11 - HOUR_MS, OCT_11)
        for row in table.to_pylist()[:20]:
            contracts = float(json.loads(row["raw"])["sz"])
            assert row["qty_coin"] == pytest.approx(contracts * CT_VAL[asset], rel=1e-12)
            assert row["notional_usd"] == pytest.approx(row["qty_coin"] * row["price"], rel=1e-12)


def test_only_the_last_24_hours_are_served(sandbox):
    now = set_clock(sandbox, "2025-10-11T12:00:00Z")
    table = okx.fetch_liquidations(client(sandbox), "SOL", OCT_10, OCT_11)
    expected = truth(sandbox.state.market, "SOL", OCT_10, OCT_11, now)
    assert_matches(table, expected)
    assert table["ts"].cast(pa.int64()).to_numpy().min() > now - DAY_MS  # the morning of 10 Oct is gone
    everything = truth(sandbox.state.market, "SOL", OCT_10, OCT_11, OCT_11)
    assert len(everything["ts"]) > len(expected["ts"])


def test_ingest_writes_served_days_and_reruns_change_nothing(sandbox, tmp_path):
    now = set_clock(sandbox, "2025-10-11T12:00:00Z")
    lake = Lake(tmp_path / "lake")
    days = [date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11)]
    spec = okx.DATASETS["liquidations"]
    for _ in range(2):
        results = ingest_days(
            "okx", spec, days, http=client(sandbox), lake=lake, now_ms=now, assets=["BTC", "XRP"]
        )
        assert [r.status for r in results] == ["beyond_retention", "ok", "ok"]
    assert lake.read_partition("okx", "liquidations", days[0]).num_rows == 0
    for day in days[1:]:
        start = day_start_ms(day)
        table = lake.read_partition("okx", "liquidations", day)
        for asset in ("BTC", "XRP"):
            mine = table.filter(pc.equal(table["asset"], asset))
            assert_matches(mine, truth(sandbox.state.market, asset, start, start + DAY_MS, now))


def test_many_liquidations_in_one_millisecond_across_a_page_boundary(sandbox_home, small_scenario, sandbox):
    # a market whose OKX BTC events 200..209 all happen in the same millisecond
    market = sandbox.state.market
    ev = market.liquidation_events
    ts = ev["ts"].cast(pa.int64()).to_numpy().copy()
    okx_btc = np.nonzero(
        (ev["venue"].to_numpy(zero_copy_only=False) == "okx")
        & (ev["asset"].to_numpy(zero_copy_only=False) == "BTC")
    )[0]
    same = okx_btc[[i for i in range(len(okx_btc)) if OCT_10 <= ts[okx_btc[i]] < OCT_11][200:210]]
    ts[same] = ts[same[-1]]
    events = ev.set_column(ev.schema.get_field_index("ts"), "ts", pa.array(ts, pa.timestamp("ms", tz="UTC")))
    state = SandboxState.from_market(dataclasses.replace(market, liquidation_events=events))
    state.clock_ms = iso_to_ms("2025-10-11T00:00:00Z")
    with SandboxServer(state) as server:
        for page_limit in (25, 27, 33):  # page ends fall at different places around it
            table = okx.fetch_liquidations(client(server), "BTC", OCT_10, OCT_11, page_limit=page_limit)
            assert_matches(table, truth(state.market, "BTC", OCT_10, OCT_11, state.clock_ms))
            assert (table["ts"].cast(pa.int64()).to_numpy() == ts[same[-1]]).sum() == 10


def test_refusals_keep_the_okx_envelope(sandbox):
    http = client(sandbox)
    with pytest.raises(VenueError, match="50014"):
        http.get_json(PATH, {"instType": "SWAP", "state": "filled"})
    with pytest.raises(VenueError, match="51001"):
        http.get_json(PATH, {"instType": "SWAP", "instFamily": "NOPE-USDT", "state": "filled"})
    with pytest.raises(VenueError, match="51000"):
        http.get_json(PATH, {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled", "limit": "101"})
