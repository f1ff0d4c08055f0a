"""venue_operational_risk and warehouse/queries/down_while_liquidated.sql against the sandbox's ground truth.

A deployment is replayed over the crash evening of the small scenario: the sandbox clock walks 20:00-23:00 UTC on
10 Oct 2025 in 10-minute steps, and at each step the real Binance client asks for open interest through the normal
ingest (its api_health rows are stamped with the sandbox clock, as in the demo's replay). The scenario's Binance
outage (ground truth: the simulator's event log) answers 503 to those requests. CoinGlass's per-exchange hours are
fetched through the real client, so Binance's liquidated users show where its own feed has nothing.

The status endpoints need an OKX / Bybit / Deribit outage, which the small scenario does not have: for that part
the running sandbox's scenario gets three extra outages (restored afterwards) and the status datasets are read
through the real clients before, during and after them.

Then one dbt build of the mart (with its data tests, which Dagster runs as asset checks) and the query.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pyarrow.compute as pc
import pytest

from pipelines.ingest import PartitionFailed, ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import iso_to_ms
from pipelines.sandbox import SANDBOX_API_KEY
from pipelines.sandbox.scenario import Outage
from pipelines.venues import binance, bybit, coinglass, deribit, okx
from pipelines.venues.http import WeightLimiter
from tests.conformance.json_shape import shape
from tests.integration.test_dbt_marts import run_dbt, source_datasets

QUERY = Path(__file__).resolve().parents[2] / "warehouse" / "queries" / "down_while_liquidated.sql"
CRASH_DAY = date(2025, 10, 10)
POLL_START, POLL_END, POLL_STEP_MS = "2025-10-10T20:00:00Z", "2025-10-10T23:00:00Z", 10 * 60_000
LIQUIDATION_ASSETS = ("BTC", "ETH")
STATUS_DAY = date(2025, 10, 11)
# the extra outages for the status part, and when the status endpoints are read: before, during, after
STATUS_OUTAGE = ("2025-10-11T03:00:00Z", "2025-10-11T04:30:00Z")
STATUS_READS = ("2025-10-11T02:30:00Z", "2025-10-11T03:30:00Z", "2025-10-11T05:00:00Z")
STATUS_MODULES = (okx, bybit, deribit)
ANCESTOR_TEST_PATHS = (
    "models/staging",
    "models/intermediate",
    "models/marts/liquidations",
    "models/marts/leverage",
    "seeds",
)
QUICK_RETRIES = {"max_attempts": 2, "backoff_base_s": 0.001, "backoff_cap_s": 0.001}
HOUR = timedelta(hours=1)


def naive_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def naive_hour(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 3_600_000 * 3600, UTC).replace(tzinfo=None)


class SandboxTime:
    """A limiter clock that runs on the sandbox's time: waiting moves the sandbox clock (and its rate windows)."""

    def __init__(self, server):
        self.server, self.offset_s = server, 0.0

    def monotonic_s(self) -> float:  # the part of a Clock a limiter reads
        return time.monotonic() + self.offset_s

    def sleep(self, seconds: float) -> None:
        self.offset_s += seconds
        self.server.state.clock.move_to(self.server.state.clock_ms + int(seconds * 1000) + 1)


def ask_binance(lake: Lake, server) -> None:
    """The real client and ingest at each step; a step inside the outage fails after its retries, as it would."""
    http = binance.make_http(server.base_url("binance"), **QUICK_RETRIES)
    http.clock = server.state.clock  # api_health on the replayed clock
    for clock in range(iso_to_ms(POLL_START), iso_to_ms(POLL_END) + 1, POLL_STEP_MS):
        server.state.clock.move_to(clock)
        with contextlib.suppress(PartitionFailed):  # the outage: its attempts are in api_health
            ingest_days(
                "binance", binance.DATASETS["open_interest"], [CRASH_DAY], http=http, lake=lake,
                now_ms=clock, run_id=f"poll-{clock}", assets=("BTC",),
            )  # fmt: skip
    http.close()


def read_status(lake: Lake, server) -> dict[str, list[str]]:
    """Each status dataset at STATUS_READS; returns, per venue, how each read ended."""
    outcomes: dict[str, list[str]] = {}
    for module in STATUS_MODULES:
        http = module.make_http(server.base_url(module.VENUE), **QUICK_RETRIES)
        sandbox_time = SandboxTime(server)  # the venue's own limits, on the sandbox's time (OKX: 1 per 5 s)
        own = http.limiter
        http.limiter = WeightLimiter(own.capacity, own.window_s, clock=sandbox_time, sleep=sandbox_time.sleep)
        http.clock = server.state.clock
        for at in STATUS_READS:
            server.state.clock.move_to(iso_to_ms(at))
            try:
                ingest_days(
                    module.VENUE, module.DATASETS["system_status"], [STATUS_DAY], http=http, lake=lake,
                    now_ms=iso_to_ms(at), run_id=f"status-{at}",
                )  # fmt: skip
                outcomes.setdefault(module.VENUE, []).append("ok")
            except PartitionFailed:
                outcomes.setdefault(module.VENUE, []).append("failed")
        http.close()
    return outcomes


@contextlib.contextmanager
def extra_outages(server):
    """The running sandbox's scenario with an OKX, a Bybit and a Deribit outage added, for the block's duration."""
    state = server.state
    original = state.market
    start, end = iso_to_ms(STATUS_OUTAGE[0]), iso_to_ms(STATUS_OUTAGE[1])
    extra = [Outage(m.VENUE, start, end, "503") for m in STATUS_MODULES]
    scenario = dataclasses.replace(original.scenario, outages=[*original.scenario.outages, *extra])
    state.market = dataclasses.replace(original, scenario=scenario)
    try:
        yield extra
    finally:
        state.market = original


@pytest.fixture(scope="module")
def built(tmp_path_factory, sandbox, small_scenario):
    home = tmp_path_factory.mktemp("oprisk_home")
    lake = Lake(home / "lake")
    original_clock = sandbox.state.clock_ms
    started = time.monotonic()
    try:
        ask_binance(lake, sandbox)
        print(f"\nBinance polls: {time.monotonic() - started:.1f} s")
        with extra_outages(sandbox) as extra:
            status_outcomes = read_status(lake, sandbox)
        print(f"status reads: {time.monotonic() - started:.1f} s")
    finally:
        sandbox.state.clock.move_to(original_clock)
    cg = coinglass.make_http(sandbox.base_url("coinglass"), SANDBOX_API_KEY, sleep=lambda s: None)
    with cg:
        ingest_days(
            "coinglass", coinglass.DATASET, [CRASH_DAY], http=cg, lake=lake, now_ms=small_scenario.clock_ms,
            assets=LIQUIDATION_ASSETS,
        )  # fmt: skip
    print(f"coinglass: {time.monotonic() - started:.1f} s")
    for venue, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir()
    started = time.monotonic()
    # the mart and its ancestors, with the unit tests and the mart's own data tests (the ancestors' data tests are
    # other modules' business, and cost time)
    run_dbt(
        home, "build", "--select", "+venue_operational_risk", "--indirect-selection", "cautious", "--exclude",
        *(f"test_type:data,path:{path}" for path in ANCESTOR_TEST_PATHS),
    )  # fmt: skip
    print(f"\ndbt build of venue_operational_risk: {time.monotonic() - started:.1f} s")
    con = duckdb.connect()
    con.execute(f"attach '{home / 'build' / 'levwatch.duckdb'}' as levwatch (read_only)")
    con.execute("use levwatch")
    yield con, status_outcomes, extra
    con.close()


def test_the_query_finds_binance_down_while_its_users_were_liquidated(built, sandbox):
    con, *_ = built
    market = sandbox.state.market
    outages = [e for e in market.truth["events"] if e["type"] == "outage" and e["venue"] == "binance"]
    assert outages, "the small scenario's ground truth has a Binance outage on the crash day"
    poll_start, poll_end = iso_to_ms(POLL_START), iso_to_ms(POLL_END)
    events = market.liquidation_events
    binance_events = events.filter(
        pc.and_(
            pc.equal(events["venue"], "binance"),
            pc.is_in(events["asset"], pc.cast(list(LIQUIDATION_ASSETS), "string")),
        )
    )
    truth_ms = pc.cast(binance_events["ts"], "int64").to_pylist()
    truth_usd = binance_events["notional_usd"].to_pylist()
    # the truth: hours the outage overlaps (inside the polled span) in which the simulator liquidated Binance users
    expected = {}
    for outage in outages:
        start, end = max(outage["start_ms"], poll_start), min(outage["end_ms"], poll_end)
        for hour in range(start // 3_600_000 * 3_600_000, end, 3_600_000):
            overlap_min = (min(end, hour + 3_600_000) - max(start, hour)) / 60_000
            if any(hour <= t < hour + 3_600_000 for t in truth_ms):
                expected[naive_hour(hour)] = overlap_min
    assert expected, "Binance users were liquidated during the outage (ground truth)"

    rows = con.execute(QUERY.read_text()).fetchall()
    columns = [d[0] for d in con.description]
    found = {r[1]: dict(zip(columns, r, strict=True)) for r in rows if r[0] == "binance"}
    print("\ndown_while_liquidated:", *(f"{k}: {v}" for k, v in sorted(found.items())), sep="\n  ")
    assert set(found) == set(expected)
    for hour, minutes in expected.items():
        # the polls land on the outage's first and last minute (10-minute steps from the hour): exact here
        assert found[hour]["outage_minutes"] == pytest.approx(minutes)
        # what the simulator liquidated of Binance's users in that hour (the assets fetched), in US$m
        liquidated_m = sum(
            u for t, u in zip(truth_ms, truth_usd, strict=True) if hour <= naive_ms(t) < hour + HOUR
        )
        assert found[hour]["total_usd_m"] == pytest.approx(liquidated_m / 1e6, abs=0.01)
        assert found[hour]["liquidation_coverage"] == "aggregate_only"  # CoinGlass stands in for the feed
    # no other venue was degraded in this lake
    assert {r[0] for r in rows} == {"binance"}


def test_the_hours_around_the_outage_are_up(built):
    con, *_ = built
    rows = con.execute(
        "select ts, outage_minutes, error_rate from marts.venue_operational_risk where venue = 'binance' order by ts"
    ).fetchall()
    by_hour = {ts: (minutes, rate) for ts, minutes, rate in rows}
    assert by_hour[datetime(2025, 10, 10, 20)] == (0.0, 0.0)
    assert by_hour[datetime(2025, 10, 10, 22)][0] == 0.0
    assert by_hour[datetime(2025, 10, 10, 21)][1] == 1.0  # every attempt in the outage hour failed


def test_status_endpoints_report_the_extra_outages(built):
    con, status_outcomes, extra = built
    # during the outage the status endpoint answers 503 like every other path of the venue
    assert status_outcomes == {m.VENUE: ["ok", "failed", "ok"] for m in STATUS_MODULES}
    lake_rows = con.execute(
        "select venue, event_type, state, begin_at, end_at from staging.stg_okx__system_status "
        "union all select venue, event_type, state, begin_at, end_at from staging.stg_bybit__system_status"
    ).fetchall()
    window = (naive_hour(extra[0].start_ms), datetime(2025, 10, 11, 4, 30))
    # read after the outage: one completed incident per venue with the outage's window; before it: nothing
    assert sorted(lake_rows) == sorted(
        ("okx" if i == 0 else "bybit", "incident", "completed", *window) for i in (0, 1)
    )
    flags = {
        (venue, ts): (checked, incident)
        for venue, ts, checked, incident in con.execute(
            "select venue, ts, status_checked, status_incident from marts.venue_operational_risk "
            "where venue in ('okx', 'bybit', 'deribit') and ts::date = date '2025-10-11'"
        ).fetchall()
    }
    for venue in ("okx", "bybit"):
        assert flags[(venue, datetime(2025, 10, 11, 3))] == (True, True)
        assert flags[(venue, datetime(2025, 10, 11, 4))] == (True, True)
        assert flags[(venue, datetime(2025, 10, 11, 2))] == (True, False)
        assert flags[(venue, datetime(2025, 10, 11, 5))] == (True, False)
    # Deribit's lock is a current-state reading: checked only in the hours read, never locked outside the outage
    assert flags[("deribit", datetime(2025, 10, 11, 2))] == (True, False)
    assert flags[("deribit", datetime(2025, 10, 11, 5))] == (True, False)
    assert flags.get(("deribit", datetime(2025, 10, 11, 1)), (False, None)) == (False, None)


def test_sandbox_status_answers_have_the_documented_shapes(sandbox):
    """After the extra outages: OKX and Bybit list them in the shape of their docs' examples (same field names and
    JSON types); OKX lists completed events only when asked (state=completed), refuses an unknown state, and allows
    1 request per 5 s; Deribit answers the schema's shape."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    with extra_outages(sandbox):
        sandbox.state.clock.move_to(iso_to_ms(STATUS_READS[-1]))
        okx_url = sandbox.base_url("okx") + "/api/v5/system/status"
        completed = httpx.get(okx_url, params={"state": "completed"}).json()
        assert shape(completed) == shape(json.loads((fixtures / "okx" / "system_status.json").read_text()))
        sandbox.state.clock.move_to(sandbox.state.clock_ms + 5_001)
        assert (
            httpx.get(okx_url).json()["data"] == []
        )  # the default states: nothing scheduled, ongoing, pre_open
        limited = httpx.get(okx_url)
        assert (limited.status_code, limited.json()["code"]) == (429, "50011")
        sandbox.state.clock.move_to(sandbox.state.clock_ms + 5_001)
        refused = httpx.get(okx_url, params={"state": "done"})
        assert (refused.status_code, refused.json()["code"]) == (400, "51000")
        listed = httpx.get(sandbox.base_url("bybit") + "/v5/system/status").json()
        doc = json.loads((fixtures / "bybit" / "system_status_doc.json").read_text())
        assert shape(listed["result"]) == shape(doc["result"])
        deribit_status = httpx.get(sandbox.base_url("deribit") + "/api/v2/public/status").json()
        schema_example = json.loads((fixtures / "deribit" / "status_schema_example.json").read_text())
        assert deribit_status["result"]["locked"] == "false"
        assert set(deribit_status["result"]) == set(schema_example["result"])
