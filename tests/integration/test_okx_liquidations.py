"""OKX liquidation orders against the sandbox: every page edge, contracts -> coins and the 24-hour retention, each
compared with the simulator's own forced closes (Market.liquidation_events), not with what the route serves."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import duckdb
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
from tests.integration.test_dbt_marts import run_dbt, source_datasets

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


def test_each_day_records_the_span_the_venue_could_serve_and_runs_add_up(sandbox, tmp_path):
    """An hourly run sees today up to now; the 00:30 run sees only yesterday from 00:30 on. What the runs could
    see joins up in the partition's metadata, so a day is known to be whole only when its runs covered it."""
    lake = Lake(tmp_path / "lake")
    spec = okx.DATASETS["liquidations"]
    oct_10, oct_11 = date(2025, 10, 10), date(2025, 10, 11)

    def run(iso: str, days: list[date]) -> int:
        now = set_clock(sandbox, iso)
        ingest_days("okx", spec, days, http=client(sandbox), lake=lake, now_ms=now, assets=["ETH"])
        return now

    first = run("2025-10-10T06:05:00Z", [oct_10])
    assert lake.partition_observed("okx", "liquidations", oct_10) == [(OCT_10, first)]
    second = run("2025-10-10T07:05:00Z", [oct_10])
    assert lake.partition_observed("okx", "liquidations", oct_10) == [(OCT_10, second)]
    # then nothing until the next day's 20:00 run: 07:05 .. 20:00 of the 10th was never within reach
    late = run("2025-10-11T20:00:00Z", [oct_10, oct_11])
    assert lake.partition_observed("okx", "liquidations", oct_10) == [
        (OCT_10, second),
        (late - DAY_MS, OCT_11),
    ]
    assert lake.partition_observed("okx", "liquidations", oct_11) == [(OCT_11, late)]
    table = lake.read_partition("okx", "liquidations", oct_10)
    seen = truth(sandbox.state.market, "ETH", OCT_10, second, second)["ts"].tolist()
    seen += truth(sandbox.state.market, "ETH", late - DAY_MS, OCT_11, late)["ts"].tolist()
    assert sorted(table["ts"].cast(pa.int64()).to_pylist()) == sorted(seen)
    # two days on, the 10th is beyond retention: its file and its record of what was seen stay as they were
    run("2025-10-12T23:00:00Z", [oct_10])
    assert lake.partition_observed("okx", "liquidations", oct_10) == [
        (OCT_10, second),
        (late - DAY_MS, OCT_11),
    ]
    # a day first asked about after it left the window: nothing of it was seen
    run("2025-10-12T23:00:00Z", [date(2025, 10, 9)])
    assert lake.partition_observed("okx", "liquidations", date(2025, 10, 9)) == []


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
    state.clock.move_to(iso_to_ms("2025-10-11T00:00:00Z"))
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


def test_marts_flag_the_hours_no_run_could_see(sandbox, tmp_path):
    """Runs at 06:05 and 07:05 on 10 Oct, then not until 20:00 on 11 Oct: 07:05-20:00 of the 10th was never
    served to a run, so the marts call that day sampled with those minutes as its gap, not complete."""
    lake = Lake(tmp_path / "lake")
    spec = okx.DATASETS["liquidations"]
    oct_9, oct_10, oct_11 = date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11)
    runs = (
        ("2025-10-10T06:05:00Z", [oct_10]),
        ("2025-10-10T07:05:00Z", [oct_10]),
        ("2025-10-11T20:00:00Z", [oct_9, oct_10, oct_11]),
    )
    for iso, days in runs:
        now = set_clock(sandbox, iso)
        ingest_days("okx", spec, days, http=client(sandbox), lake=lake, now_ms=now, assets=["ETH"])
    for venue, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(venue, dataset)
    (tmp_path / "build").mkdir()
    run_dbt(
        tmp_path,
        "build",
        "--select",
        "+liquidations_hourly",
        "+liquidations_daily",
        "--indirect-selection",
        "cautious",
    )

    with duckdb.connect(str(tmp_path / "build" / "levwatch.duckdb"), read_only=True) as con:
        daily = {
            row[0]: row[1:]
            for row in con.execute(
                "select date, coverage, gap_minutes, total_usd from marts.liquidations_daily "
                "where venue = 'okx' and asset = 'ETH' order by date"
            ).fetchall()
        }
        hourly = dict(
            con.execute(
                "select hour(ts), gap_minutes from marts.liquidations_hourly "
                "where venue = 'okx' and asset = 'ETH' and cast(ts as date) = '2025-10-10'"
            ).fetchall()
        )
    unseen_minutes = (20 * 60) - (7 * 60 + 5)  # 07:05 .. 20:00
    seen_usd = sum(truth(sandbox.state.market, "ETH", OCT_10, iso_to_ms(runs[1][0]), OCT_11)["notional_usd"])
    seen_usd += sum(truth(sandbox.state.market, "ETH", OCT_10, OCT_11, iso_to_ms(runs[2][0]))["notional_usd"])
    assert daily[oct_9] == ("none", 1440.0, 0.0)  # first asked for after it left the 24 hours
    assert daily[oct_10][:2] == ("sampled", unseen_minutes)
    assert daily[oct_10][2] == pytest.approx(seen_usd, rel=1e-9)  # what was seen: a lower bound
    assert daily[oct_11][:2] == ("complete", 0.0)  # seen until the last look, 20:00
    assert (
        hourly[7] == 55.0 and hourly[19] == 60.0 and hourly.get(6, 0.0) == 0.0 and hourly.get(20, 0.0) == 0.0
    )
