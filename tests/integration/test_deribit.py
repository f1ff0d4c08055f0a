"""Deribit client, snapshot rules, replay, checks and the options marts against the sandbox's ground truth.

Ground truth is the sandbox's pure `option_chain(market, currency, clock)` / `funding_history(...)`: what the
venue served at a clock time, recomputed here independently of the lake and the marts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date

import duckdb
import httpx
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from pipelines.defs.options.checks import (
    OPTIONS_CHECKS,
    SNAPSHOT_ASSET,
    instrument_names,
    open_interest_non_negative,
)
from pipelines.defs.venues.assets import RAW_ASSETS
from pipelines.defs.venues.freshness import FRESHNESS_CHECKS
from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.clock import DrivenClock
from pipelines.lib.freshness import judge_freshness, newest_row_ms
from pipelines.lib.option_names import parse_option_name
from pipelines.lib.options_math import max_pain, put_call_ratio
from pipelines.lib.timeutil import HOUR_MS, day_window_ms, floor_hour_ms, iso_to_ms
from pipelines.orchestration.resources import VenueGateway
from pipelines.sandbox.harness.options_replay import ReplayRefused, record_option_snapshots
from pipelines.sandbox.options import expiry_kind, funding_history, option_chain
from pipelines.sandbox.serving import SandboxState
from pipelines.venues import deribit
from pipelines.venues.http import VenueError, WeightLimiter
from tests.integration.test_dbt_marts import run_dbt

OPTIONS = deribit.DATASETS["options_snapshots"]
FUNDING = deribit.DATASETS["funding_rates"]
BOOK_PATH = "/deribit" + deribit.BOOK_SUMMARY_PATH


def _http(sandbox, **kwargs):
    return deribit.make_http(sandbox.base_url("deribit"), sleep=lambda s: None, **kwargs)


def _set_clock(sandbox, when: str) -> int:
    ms = iso_to_ms(when)
    httpx.post(f"{sandbox.url}/_sandbox/clock", json={"clock_ms": ms}).raise_for_status()
    return ms


def _book_requests(sandbox) -> int:
    return sum(r["path"] == BOOK_PATH for r in sandbox.state.requests)


def test_snapshot_is_the_chain_the_venue_served_at_the_clock(sandbox):
    clock = sandbox.state.market.scenario.clock_ms
    start, end = day_window_ms(date(2025, 10, 13))
    with _http(sandbox) as http:
        table = deribit.fetch_options_snapshots(http, "BTC", start, clock + 1)
    truth = {r["instrument_name"]: r for r in option_chain(sandbox.state.market, "BTC", clock)}
    rows = table.to_pylist()
    assert len(rows) == len(truth) > 100
    for row in rows:
        want = truth[row["symbol"]]
        assert row["open_interest_coin"] == want["open_interest"]
        assert row["mark_iv"] == want["mark_iv"] and row["mark_price"] == want["mark_price"]
        assert int(row["ts"].timestamp() * 1000) == floor_hour_ms(clock)
        assert row["strike"] == parse_option_name(row["symbol"]).strike
    assert start <= floor_hour_ms(clock) < end


def test_funding_matches_the_served_history_in_windows_of_at_most_30_days(sandbox):
    market = sandbox.state.market
    start, end = day_window_ms(date(2025, 10, 10))[0], day_window_ms(date(2025, 10, 12))[1]
    before = len(sandbox.state.requests)
    with _http(sandbox) as http:
        table = deribit.fetch_funding_rates(http, "ETH", start - 40 * 24 * HOUR_MS, end)
    calls = [r for r in sandbox.state.requests[before:] if r["path"].endswith("get_funding_rate_history")]
    assert len(calls) == 2  # 43 days: two windows of at most 30
    for call in calls:
        assert int(call["query"]["end_timestamp"]) - int(call["query"]["start_timestamp"]) < 30 * 24 * HOUR_MS
    truth = {r["timestamp"]: r["interest_1h"] for r in funding_history(market, "ETH", start, end - 1, end)}
    got = {
        int(t.timestamp() * 1000): rate
        for t, rate in zip(*table.select(["funding_time", "funding_rate"]).to_pydict().values(), strict=True)
    }
    assert len(truth) == 72 and {t: got[t] for t in truth} == truth
    assert set(table["funding_interval_hours"].to_pylist()) == {1.0}


def test_error_envelopes_and_rate_limits(sandbox):
    with _http(sandbox) as http:
        with pytest.raises(VenueError, match="Invalid params") as err:
            http.get_json(deribit.BOOK_SUMMARY_PATH, {"currency": "XBT", "kind": "option"})
        assert err.value.code == -32602
        with pytest.raises(VenueError, match="no perpetual listed for 'SOL'"):
            deribit.fetch_funding_rates(http, "SOL", 0, HOUR_MS)
        httpx.post(
            f"{sandbox.url}/_sandbox/faults",
            json={"venue": "deribit", "path": None, "kind": "429", "count": 2},
        )
        clock = sandbox.state.clock_ms
        table = deribit.fetch_options_snapshots(http, "ETH", clock - HOUR_MS, clock + 1)
        assert table.num_rows > 100
        attempts = [c for c in http.drain_calls() if c.endpoint == deribit.BOOK_SUMMARY_PATH]
        assert [c.ok for c in attempts[-3:]] == [False, False, True]  # 10028 retried


def test_sandbox_rate_limit_windows_move_with_the_clock(sandbox):
    """A forward clock move lets the credit window elapse (a replayed hour refills it); a move back does not."""
    state = SandboxState(market=sandbox.state.market, clock=DrivenClock(sandbox.state.clock_ms))
    for _ in range(20):
        assert state.spend("deribit", "credits", 1, 20, 1.0) is None
    assert state.spend("deribit", "credits", 1, 20, 1.0) is not None  # the 21st within a second waits
    state.clock.move_to(state.clock_ms - HOUR_MS)
    assert state.spend("deribit", "credits", 1, 20, 1.0) is not None
    state.clock.move_to(state.clock_ms + 2 * HOUR_MS)
    assert state.clock_ms == sandbox.state.clock_ms + HOUR_MS
    assert state.spend("deribit", "credits", 1, 20, 1.0) is None


def test_replay_limiter_counts_in_replayed_time():
    def no_wall_clock_wait(seconds):
        raise AssertionError(f"the limiter slept {seconds:.2f}s of wall time")

    replayed = DrivenClock(0)
    limiter = WeightLimiter(
        deribit.LIMITER_CAPACITY, deribit.RATE_WINDOW_S, clock=replayed, sleep=no_wall_clock_wait
    )
    for _hour in range(50):
        for _ in range(deribit.LIMITER_CAPACITY):
            limiter.acquire()
        replayed.move_to(replayed.now_ms() + HOUR_MS)
    with pytest.raises(AssertionError, match="slept"):  # within one replayed hour the real limit holds
        for _ in range(deribit.LIMITER_CAPACITY + 1):
            limiter.acquire()


def test_a_past_partition_is_not_recordable_and_asks_nothing(sandbox, tmp_path):
    lake = Lake(tmp_path / "lake")
    before = _book_requests(sandbox)
    with _http(sandbox) as http:
        results = ingest_days(
            "deribit", OPTIONS, [date(2025, 10, 11)], http=http, lake=lake, now_ms=sandbox.state.clock_ms
        )
    assert [(r.status, r.rows) for r in results] == [("not_recordable", 0)]
    assert lake.partition_status("deribit", "options_snapshots", date(2025, 10, 11)) == "not_recordable"
    assert lake.read_partition("deribit", "options_snapshots", date(2025, 10, 11)).num_rows == 0
    assert _book_requests(sandbox) == before


def test_snapshots_accumulate_through_the_day_and_are_kept_afterwards(sandbox, tmp_path):
    lake, day = Lake(tmp_path / "lake"), date(2025, 10, 12)
    market = sandbox.state.market
    expected = 0
    with _http(sandbox) as http:
        for when in ("2025-10-12T10:15:00Z", "2025-10-12T11:05:00Z", "2025-10-12T11:40:00Z"):
            clock = _set_clock(sandbox, when)
            ingest_days("deribit", OPTIONS, [day], http=http, lake=lake, now_ms=clock)
        expected = sum(
            len(option_chain(market, c, iso_to_ms("2025-10-12T10:15:00Z"))) for c in ("BTC", "ETH")
        )
        expected += sum(
            len(option_chain(market, c, iso_to_ms("2025-10-12T11:40:00Z"))) for c in ("BTC", "ETH")
        )
        table = lake.read_partition("deribit", "options_snapshots", day)
        hours = sorted({int(t.timestamp() * 1000) for t in table["ts"].to_pylist()})
        assert hours == [iso_to_ms("2025-10-12T10:00:00Z"), iso_to_ms("2025-10-12T11:00:00Z")]
        assert table.num_rows == expected  # the second 11:xx snapshot replaced the first, never duplicated
        # the next day, the recorded day is kept as it is and the venue is not asked
        clock = _set_clock(sandbox, "2025-10-13T00:30:00Z")
        before = _book_requests(sandbox)
        results = ingest_days("deribit", OPTIONS, [day], http=http, lake=lake, now_ms=clock)
    assert [(r.status, r.rows) for r in results] == [("kept", expected)]
    assert _book_requests(sandbox) == before

    def freshness(now: str):
        now_ms, max_age = iso_to_ms(now), OPTIONS.max_age
        newest = newest_row_ms(lake, "deribit", "options_snapshots", now_ms, max_age.lookback_days)
        return judge_freshness(newest, now_ms, max_age, "deribit/options_snapshots")

    # the newest snapshot is 11:00: 1.5 h old passes, 3.5 h is past the 2 h warning, 6.5 h past the 6 h error
    assert freshness("2025-10-12T12:30:00Z").passed
    stale = freshness("2025-10-12T14:30:00Z")
    assert (stale.passed, stale.severity) == (False, "WARN")
    dead = freshness("2025-10-12T17:30:00Z")
    assert (dead.passed, dead.severity) == (False, "ERROR")
    assert instrument_names(lake).passed and open_interest_non_negative(lake).passed


def test_the_market_model_shifts_oi_to_puts_and_lifts_iv_on_the_crash(sandbox):
    market = sandbox.state.market

    def figures(when: str) -> tuple[float, float]:
        chain = option_chain(market, "BTC", iso_to_ms(when))
        pcr = put_call_ratio(
            (
                parse_option_name(r["instrument_name"]).strike,
                parse_option_name(r["instrument_name"]).option_type,
                r["open_interest"],
            )
            for r in chain
        )
        nearest = min(
            chain,
            key=lambda r: (
                parse_option_name(r["instrument_name"]).expiry,
                abs(math.log(parse_option_name(r["instrument_name"]).strike / r["estimated_delivery_price"])),
            ),
        )
        return pcr, nearest["mark_iv"]

    calm_pcr, calm_iv = figures("2025-10-09T12:00:00Z")
    crash_pcr, crash_iv = figures("2025-10-10T23:30:00Z")
    assert crash_pcr > 1.5 * calm_pcr
    assert crash_iv > 1.5 * calm_iv


def test_the_hourly_partition_run_records_a_snapshot_and_every_options_check_passes(sandbox, tmp_path):
    gateway = VenueGateway(home=str(tmp_path), source="sandbox", sandbox_url=sandbox.url)
    raw = [a for a in RAW_ASSETS if SNAPSHOT_ASSET in a.keys]
    today = date(2025, 10, 13)  # the scenario clock's day, as the hourly schedule would ask for
    result = materialize(
        [*raw, *OPTIONS_CHECKS, *[c for c in FRESHNESS_CHECKS if c.check_key.asset_key == SNAPSHOT_ASSET]],
        resources={"venue_gateway": gateway},
        partition_key=today.isoformat(),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "schema": True,
        "duplicate_keys": True,
        "value_sanity": True,
        "non_empty": True,
        "null_rate": True,
        "window_complete": True,
        "fresh": True,
        "instrument_names_parse": True,
        "open_interest_non_negative": True,
    }
    assert AssetKey(["raw", "deribit", "options_snapshots"]) == SNAPSHOT_ASSET
    assert gateway.lake.read_partition("deribit", "options_snapshots", today).num_rows > 200


def test_replay_refuses_anything_but_the_sandbox(tmp_path):
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ReplayRefused, match="only against the sandbox"):
        record_option_snapshots(VenueGateway(home=str(tmp_path), source="live"), lake, 0, HOUR_MS, HOUR_MS)
    with pytest.raises(ReplayRefused, match="not a loopback sandbox"):
        record_option_snapshots("https://www.deribit.com", lake, 0, HOUR_MS, HOUR_MS)
    assert not (tmp_path / "lake").exists()


REPLAY = (
    "2025-10-10T05:30:00Z",
    "2025-10-11T12:00:00Z",
)  # steps of 6 h: the 10th's last snapshot is at 23:30
CRASH_DAY = date(2025, 10, 10)


@pytest.fixture(scope="module")
def options_warehouse(sandbox, tmp_path_factory):
    home = tmp_path_factory.mktemp("options_home")
    lake = Lake(home / "lake")
    clock_before = sandbox.state.clock_ms
    results = record_option_snapshots(
        sandbox.url, lake, iso_to_ms(REPLAY[0]), iso_to_ms(REPLAY[1]), 6 * HOUR_MS
    )
    assert sandbox.state.clock_ms == clock_before  # the replay puts the clock back
    assert [r.status for r in results] == ["ok"] * 6
    for dataset in ("options_snapshots", "funding_rates"):
        lake.ensure_anchor("deribit", dataset)
    (home / "build").mkdir()
    run_dbt(home, "build", "--select", "+fct_options_oi", "+options_positioning_daily")
    return home / "build" / "levwatch.duckdb"


def _truth_chain(sandbox, when: str) -> list[tuple[float, str, float, object, float]]:
    rows = []
    for r in option_chain(sandbox.state.market, "BTC", iso_to_ms(when)):
        name = parse_option_name(r["instrument_name"])
        rows.append((name.strike, name.option_type, r["open_interest"], name.expiry, r["underlying_price"]))
    return rows


def test_positioning_on_the_crash_day_recomputed_from_ground_truth(sandbox, options_warehouse):
    with duckdb.connect(str(options_warehouse), read_only=True) as con:
        row = con.execute(
            "select snapshot_ts, put_call_oi_ratio, put_call_oi_ratio_nearest_expiry, top_put_strike, "
            "top_call_strike, max_pain_strike, oi_share_within_10pct, skew_25d_like_vol_pts "
            "from marts.options_positioning_daily where date = ? and underlying = 'BTC'",
            [CRASH_DAY],
        ).fetchone()
        days = con.execute("select distinct date from marts.options_positioning_daily order by 1").fetchall()
        oi_rows = con.execute(
            "select count(*) from marts.fct_options_oi where snapshot_ts = '2025-10-10 23:00:00'"
        ).fetchone()[0]
    assert [d[0] for d in days] == [CRASH_DAY, date(2025, 10, 11)]
    snapshot_ts, pcr, pcr_nearest, top_put, top_call, pain, near_share, skew = row
    assert str(snapshot_ts) == "2025-10-10 23:00:00"  # the day's last snapshot (clock 23:30)

    chain = _truth_chain(sandbox, "2025-10-10T23:30:00Z")
    assert oi_rows == len(chain) + len(
        option_chain(sandbox.state.market, "ETH", iso_to_ms("2025-10-10T23:30:00Z"))
    )
    assert pcr == pytest.approx(put_call_ratio((k, t, oi) for k, t, oi, _, _ in chain), rel=1e-12)
    nearest = min(e for _, _, _, e, _ in chain)
    assert pcr_nearest == pytest.approx(
        put_call_ratio((k, t, oi) for k, t, oi, e, _ in chain if e == nearest), rel=1e-12
    )
    by_strike: dict[tuple[str, float], float] = defaultdict(float)
    for k, t, oi, _, _ in chain:
        by_strike[(t, k)] += oi
    for kind, got in (("put", top_put), ("call", top_call)):
        best = max((oi, -k) for (t, k), oi in by_strike.items() if t == kind)
        assert got == -best[1], kind
    monthly = min(e for _, _, _, e, _ in chain if expiry_kind(e.date()) in ("monthly", "quarterly"))
    assert pain == max_pain((k, t, oi) for k, t, oi, e, _ in chain if e == monthly)
    spot = sum(u for *_, e, u in chain if e == nearest) / sum(1 for *_, e, _ in chain if e == nearest)
    near = sum(oi for k, _, oi, _, _ in chain if 0.9 * spot <= k <= 1.1 * spot)
    assert near_share == pytest.approx(near / sum(oi for _, _, oi, _, _ in chain), rel=1e-9)
    assert skew > 0  # after the fall, OTM puts are dearer than OTM calls
