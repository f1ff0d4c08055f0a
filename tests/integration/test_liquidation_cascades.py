"""liquidation_cascades against the simulator's ground truth, on two markets.

The default market's crash, through the session's liquidation warehouse (the small scenario: 9-12 Oct 2025), and a
market the thresholds were never tuned on (tests/fixtures/scenario_squeeze.yaml: other dates, a slow drift, a short
squeeze during an OKX outage), built here from its own sandbox.

What counts as a cascade comes from the simulator, not from the marts: a shock of the truth log is one when some
simulator step within the shock's own duration liquidated at least TRUTH_CASCADE_USD_PER_MINUTE, all venues and
assets together. It is found when an episode starts within ONSET_TOLERANCE of the shock's onset, on the side the
shock liquidates (a fall liquidates longs, a rise shorts). An episode is a true positive when it starts between
the onset (less the tolerance) and the end of the shock's recovery (duration + recovery_hours, by when the
simulator's mean reversion is 95% done): the shorts squeezed by a crash's wick belong to the crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.ingest import PartitionFailed, ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import DAY_MS, HOUR_MS, day_start_ms, days_between
from pipelines.sandbox.market import Market
from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import make_server
from pipelines.venues.registry import VENUE_MODULES
from tests import summary_lines
from tests.conftest import FIXTURES
from tests.integration.liquidation_lake import COMPLETE_FEEDS, lake_rows, throttled, write_by_day
from tests.integration.test_dbt_marts import run_dbt, source_datasets

CASCADE_SECTION = "liquidation cascades against the simulator's truth"

# a cascade in the truth: $50M a minute market-wide, $250M in one 5-minute step (the quiet days of the calibrated
# market are a few hundred US$m a day in all)
TRUTH_CASCADE_USD_PER_MINUTE = 50e6
ONSET_TOLERANCE = timedelta(minutes=10)
# a day with no shock is quiet when the simulator liquidated less than this on it, all venues and assets
QUIET_DAY_USD = 1.5e9
SQUEEZE_SCENARIO = FIXTURES / "scenario_squeeze.yaml"


@dataclass(frozen=True)
class TruthShock:
    name: str
    onset: datetime  # naive UTC, like the marts
    end_of_recovery: datetime
    side: str  # the side it liquidates
    peak_usd_per_minute: float

    @property
    def is_cascade(self) -> bool:
        return self.peak_usd_per_minute >= TRUTH_CASCADE_USD_PER_MINUTE


def naive(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def truth_shocks(market: Market) -> list[TruthShock]:
    """The truth log's shocks inside the simulated window, with the steepest step of liquidations each caused."""
    scenario = market.scenario
    window = (day_start_ms(scenario.start), day_start_ms(scenario.end) + DAY_MS)
    recovery = {s.name: s.recovery_hours for s in scenario.shocks}
    steps = (
        _with(liq=market.liquidations)
        .execute("select epoch_ms(ts) as ms, sum(notional_usd) as usd from liq group by ts")
        .fetchall()
    )
    shocks = []
    for event in market.truth["events"]:
        if event["type"] != "shock" or not window[0] <= event["start_ms"] < window[1]:
            continue
        end_ms = event["start_ms"] + event["duration_minutes"] * 60_000
        peak = max((usd for ms, usd in steps if event["start_ms"] <= ms < end_ms), default=0.0)
        shocks.append(
            TruthShock(
                name=event["name"],
                onset=naive(event["start_ms"]),
                end_of_recovery=naive(end_ms + int(recovery[event["name"]] * HOUR_MS)),
                side="long" if sum(event["magnitude"].values()) < 0 else "short",
                peak_usd_per_minute=peak / scenario.step_minutes,
            )
        )
    return shocks


def _with(**tables: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for name, table in tables.items():
        con.register(name, table)
    return con


@dataclass(frozen=True)
class Score:
    found: dict[str, dict]  # cascade shock -> its episode
    missed: list[str]
    true_episodes: list[dict]
    false_episodes: list[dict]

    @property
    def recall(self) -> float:
        total = len(self.found) + len(self.missed)
        return len(self.found) / total if total else 1.0

    @property
    def precision(self) -> float:
        total = len(self.true_episodes) + len(self.false_episodes)
        return len(self.true_episodes) / total if total else 1.0

    def line(self, market: str) -> str:
        return (
            f"{market}: precision {self.precision:.2f} ({len(self.true_episodes)} of "
            f"{len(self.true_episodes) + len(self.false_episodes)} episodes), recall {self.recall:.2f} "
            f"({len(self.found)} of {len(self.found) + len(self.missed)} cascade shocks; missed {self.missed})"
        )


def score(episodes: list[dict], shocks: list[TruthShock]) -> Score:
    cascades = [s for s in shocks if s.is_cascade]
    found, missed = {}, []
    for shock in cascades:
        match = [
            e
            for e in episodes
            if abs(e["start_ts"] - shock.onset) <= ONSET_TOLERANCE and e["dominant_side"] == shock.side
        ]
        if match:
            found[shock.name] = match[0]
        else:
            missed.append(shock.name)
    true_eps, false_eps = [], []
    for episode in episodes:
        caused = any(s.onset - ONSET_TOLERANCE <= episode["start_ts"] <= s.end_of_recovery for s in cascades)
        (true_eps if caused else false_eps).append(episode)
    return Score(found, missed, true_eps, false_eps)


def episodes_of(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict]:
    cursor = con.execute(f"select * from {relation} order by start_ts")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quiet_days(market: Market, shocks: list[TruthShock]) -> list[date]:
    daily = (
        _with(liq=market.liquidations)
        .execute("select cast(ts as date) as day, sum(notional_usd) from liq group by 1")
        .fetchall()
    )
    busy = {day for s in shocks for day in days_between(s.onset.date(), s.end_of_recovery.date())}
    return sorted(day for day, usd in daily if usd < QUIET_DAY_USD and day not in busy)


# -- the default market's crash (the session's warehouse) ---------------------------------------------------------


@pytest.fixture(scope="module")
def crash(liquidation_warehouse, sandbox):
    market = sandbox.state.market
    shocks = truth_shocks(market)
    episodes = episodes_of(liquidation_warehouse, "levwatch.marts.liquidation_cascades")
    return market, shocks, episodes, score(episodes, shocks)


def test_every_cascade_shock_is_an_episode_at_its_onset(crash):
    market, shocks, episodes, result = crash
    summary_lines.add(
        CASCADE_SECTION, result.line(f"default market ({market.scenario.start}..{market.scenario.end})")
    )
    assert [s.name for s in shocks if s.is_cascade] == ["tariff-crash"]
    assert result.recall == 1.0, result.missed
    crash_episode = result.found["tariff-crash"]
    assert crash_episode["dominant_side"] == "long"
    assert crash_episode["price_change_pct"] < 0
    assert set(crash_episode["assets"]) >= {"BTC", "ETH"}


def test_no_episode_on_quiet_days_without_a_shock(crash):
    market, shocks, episodes, result = crash
    days = quiet_days(market, shocks)
    assert days  # the small market has quiet days either side of the crash
    on_quiet_days = [e for e in episodes if e["start_ts"].date() in days]
    assert on_quiet_days == [], on_quiet_days
    assert result.false_episodes == []


def test_crash_episode_figures_agree_with_the_feeds(crash, liquidation_warehouse):
    """The observed USD lies between what the complete feeds carried and what all three feeds' venues liquidated;
    OKX and Bybit are complete and Binance sampled, so the episode says `mixed`."""
    *_, result = crash
    episode = result.found["tariff-crash"]
    truth = liquidation_warehouse.execute(
        """
        select
            sum(notional_usd) filter (where side = 'long'),
            sum(notional_usd) filter (where side = 'long' and venue in (select unnest($complete))),
            sum(notional_usd) filter (where side = 'short')
        from truth
        where list_contains($assets, asset) and ts >= $start and ts < $end and venue in ('okx', 'bybit', 'binance')
        """,
        {
            "complete": list(COMPLETE_FEEDS),
            "assets": episode["assets"],
            "start": episode["start_ts"],
            "end": episode["end_ts"],
        },
    ).fetchone()
    all_long, complete_long, all_short = truth
    assert complete_long <= episode["long_usd"] <= all_long * (1 + 1e-9)
    assert episode["short_usd"] <= (all_short or 0.0) * (1 + 1e-9)
    assert episode["total_usd"] == pytest.approx(episode["long_usd"] + episode["short_usd"])
    assert episode["start_ts"] <= episode["peak_minute"] < episode["end_ts"]
    assert episode["coverage"] == "mixed"
    assert episode["lead_venue"] in ("okx", "bybit", "binance")
    assert episode["oi_change_pct"] < 0  # a flush closes positions


def test_cascade_minutes_per_day_can_be_counted(liquidation_warehouse, crash):
    *_, result = crash
    per_day = dict(
        liquidation_warehouse.execute(
            """
            select cast(minute_ts as date), count(*) filter (where is_flagged)
            from levwatch.intermediate.int_liquidation_minutes_flagged group by 1
            """
        ).fetchall()
    )
    crash_day = result.found["tariff-crash"]["start_ts"].date()
    assert per_day[crash_day] >= result.found["tariff-crash"]["flagged_minutes"]
    assert all(count == 0 for day, count in per_day.items() if day != crash_day)


# -- a market the thresholds were never tuned on --------------------------------------------------------------


SQUEEZE_KLINE_VENUES = ("binance", "bybit")


def poll_okx_liquidations(server, lake: Lake, clock_ms: int, days: list[date]) -> None:
    """OKX's liquidation orders as a deployment polls them at `clock_ms`: the request log is stamped with the
    sandbox's clock, so a scenario outage shows in api_health when, in the market's time, it happened."""
    server.state.clock.move_to(clock_ms)
    module = VENUE_MODULES["okx"]
    with module.make_http(server.base_url("okx"), sleep=lambda _: None) as http:
        http.clock = server.state.clock
        ingest_days(
            "okx",
            module.DATASETS["liquidations"],
            days,
            http=http,
            lake=lake,
            now_ms=clock_ms,
            run_id=f"poll-{clock_ms}",
            progress=lambda _: None,
        )


def build_squeeze_warehouse(home: Path) -> tuple[Market, duckdb.DuckDBPyConnection, list[PartitionFailed]]:
    scenario = load_scenario(SQUEEZE_SCENARIO)
    server = make_server(home / "sandbox", scenario=scenario).start()
    try:
        market = server.state.market
        days = days_between(scenario.start, scenario.end)
        lake = Lake(home / "lake")
        events = market.liquidation_events
        bybit = events.filter(pc.equal(events["venue"], "bybit"))
        write_by_day(lake, "bybit", "liquidations", lake_rows("bybit", "stream", bybit), days)
        binance = throttled(events.filter(pc.equal(events["venue"], "binance")))
        write_by_day(lake, "binance", "liquidations", lake_rows("binance", "stream", binance), days)

        # OKX over REST: a poll at noon each day sees the last 24 h, hourly polls on the squeeze's afternoon
        failures = []
        positions = [(day_start_ms(d) + 12 * HOUR_MS, [d - timedelta(days=1), d]) for d in days]
        squeeze_day = days_between(scenario.start, scenario.end)[2]
        positions += [(day_start_ms(squeeze_day) + h * HOUR_MS, [squeeze_day]) for h in (13, 14)]
        positions += [(scenario.clock_ms, [scenario.end])]
        for clock_ms, poll_days in sorted(positions):
            try:
                poll_okx_liquidations(server, lake, clock_ms, [d for d in poll_days if d >= scenario.start])
            except PartitionFailed as exc:
                failures.append(exc)
        server.state.clock.move_to(scenario.clock_ms)

        for venue in SQUEEZE_KLINE_VENUES:
            module = VENUE_MODULES[venue]
            with module.make_http(server.base_url(venue)) as http:
                ingest_days(
                    venue,
                    module.DATASETS["klines_1m"],
                    days,
                    http=http,
                    lake=lake,
                    now_ms=scenario.clock_ms,
                    progress=lambda _: None,
                )
    finally:
        server.stop()
    for venue, datasets in source_datasets().items():
        for dataset in datasets:
            lake.ensure_anchor(venue, dataset)
    (home / "build").mkdir()
    # the cascade models and their ancestors, and only the cascade models' own data tests (their asset checks)
    run_dbt(
        home,
        "build",
        "--select",
        "+liquidation_cascades,resource_type:model",
        "int_liquidation_minutes_flagged+1,resource_type:test",
        "liquidation_cascades+1,resource_type:test",
        "--indirect-selection",
        "empty",
        "--exclude",
        "test_name:covers_days_of",  # contagion_daily's check: this build leaves contagion_daily out
    )
    con = duckdb.connect()
    con.execute(f"attach '{home / 'build' / 'levwatch.duckdb'}' as levwatch (read_only)")
    return market, con, failures


@pytest.fixture(scope="module")
def squeeze(tmp_path_factory):
    started = time.perf_counter()
    market, con, failures = build_squeeze_warehouse(tmp_path_factory.mktemp("squeeze_home"))
    summary_lines.add(CASCADE_SECTION, f"squeeze market built in {time.perf_counter() - started:.1f} s")
    shocks = truth_shocks(market)
    episodes = episodes_of(con, "levwatch.marts.liquidation_cascades")
    yield market, shocks, episodes, score(episodes, shocks), failures
    con.close()


def test_squeeze_market_precision_and_recall(squeeze):
    market, shocks, episodes, result, _ = squeeze
    summary_lines.add(
        CASCADE_SECTION, result.line(f"squeeze market ({market.scenario.start}..{market.scenario.end})")
    )
    for episode in episodes:
        summary_lines.add(
            CASCADE_SECTION,
            f"  {episode['start_ts']} {episode['duration_minutes']} min {episode['dominant_side']} "
            f"{episode['assets']} US${episode['total_usd'] / 1e6:,.0f}M lead {episode['lead_venue']} "
            f"outage {episode['api_outage_venues']}",
        )
    assert [s.name for s in shocks if s.is_cascade] == ["short-squeeze"]
    assert result.precision >= 0.9 and result.recall >= 0.9


def test_squeeze_is_a_short_squeeze_during_the_okx_outage(squeeze):
    market, shocks, episodes, result, failures = squeeze
    # the outage is real: OKX's poll inside it failed, and only that one
    squeeze_onset = next(s.onset for s in shocks if s.name == "short-squeeze")
    assert [f.day for f in failures] == [squeeze_onset.date()]
    episode = result.found["short-squeeze"]
    assert episode["dominant_side"] == "short"
    assert episode["short_usd"] > 4 * episode["long_usd"]
    assert episode["price_change_pct"] > 0  # a run-up
    assert episode["api_outage_overlap"] is True
    assert "okx" in episode["api_outage_venues"]


def test_slow_drift_is_not_flagged(squeeze):
    market, shocks, episodes, *_ = squeeze
    drift = next(s for s in shocks if s.name == "slow-drift")
    assert not drift.is_cascade  # the truth agrees it is no cascade: a trickle, not a burst
    during = [e for e in episodes if drift.onset <= e["start_ts"] <= drift.end_of_recovery]
    assert during == []
    assert not [e for e in episodes if e["start_ts"].date() in quiet_days(market, shocks)]
