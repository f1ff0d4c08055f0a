"""`make bench`: the long runs, with figures printed (not asserted).

- simulating the default scenario (time, peak memory), and its figures beside the public ones it aims at
- backfilling the default window from the sandbox into a fresh lake, per venue and dataset (time, requests, rows)
- one ranged dbt build over that lake (time)
- the demo's deployment replay over the default window, beside the option-snapshot replay it replaced (the extra
  cost of replaying a deployment's schedules)
- parser throughput on a large synthetic Binance page
- compacting one day of a week of landing files (a recorder flushing every minute)
- then the performance goals (tests/bench/goals.py): a table of phases with peak RSS, and one GOAL line each
"""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.lib.timeutil import days_between
from pipelines.sandbox.calibration import calibration_report
from pipelines.sandbox.market import simulate
from pipelines.sandbox.scenario import load_scenario
from pipelines.sandbox.server import make_server
from pipelines.venues import binance
from pipelines.venues.registry import VENUE_MODULES

ROOT = Path(__file__).resolve().parents[2]


def bench_simulation(scenario) -> None:
    started = time.perf_counter()
    market = simulate(scenario)
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"simulate '{scenario.name}' ({scenario.start}..{scenario.end}): {elapsed:.1f} s, "
        f"{market.hourly.num_rows} hourly rows, peak RSS {peak_mb:.0f} MB"
    )
    print(calibration_report(market))


def bench_backfill(scenario, home: Path) -> None:
    server = make_server(home, scenario=scenario).start()
    lake = Lake(home / "lake")
    days = days_between(scenario.start, scenario.end)
    total = time.perf_counter()
    for venue, module in VENUE_MODULES.items():
        for name, spec in module.DATASETS.items():
            http = module.make_http(server.base_url(venue))
            started = time.perf_counter()
            results = ingest_days(
                venue, spec, days, http=http, lake=lake, now_ms=scenario.clock_ms, run_id="bench"
            )
            requests = sum(1 for r in server.state.requests if r["venue"] == venue)
            server.state.requests.clear()
            print(
                f"backfill {venue}/{name}: {len(days)} days in {time.perf_counter() - started:.1f} s, "
                f"{requests} requests, {sum(r.rows for r in results)} rows"
            )
            http.close()
    print(f"backfill total: {time.perf_counter() - total:.1f} s")
    server.stop()


def bench_deployment_replay(scenario, home: Path) -> None:
    from pipelines.lib.timeutil import DAY_MS, day_start_ms
    from pipelines.sandbox import SANDBOX_API_KEY
    from pipelines.sandbox.harness.deployment_replay import deployment_jobs, replay_deployment

    server = make_server(home, scenario=scenario).start()
    window = (day_start_ms(scenario.start), day_start_ms(scenario.end) + DAY_MS)
    # the option replay before: a snapshot every hour (the deployment replay takes one every sixth)
    options_only = [
        dataclasses.replace(job, period_hours=1, offset_hours=0)
        for job in deployment_jobs(with_coinglass=False)
        if job.name == "deribit/options_snapshots"
    ]
    seconds = {}
    for label, jobs, key in (
        ("option snapshots only (the replay before)", options_only, None),
        ("the deployment replay", None, SANDBOX_API_KEY),
    ):
        server.state.requests.clear()
        started = time.perf_counter()
        report = replay_deployment(server.url, Lake(home / label.split()[0] / "lake"), *window, jobs=jobs,
                                   coinglass_key=key, progress=lambda message: None)  # fmt: skip
        seconds[label] = time.perf_counter() - started
        print(
            f"replay, {label}: {seconds[label]:.1f} s, {report.runs} runs at {report.positions} clock positions, "
            f"{len(server.state.requests)} requests"
        )
    extra = seconds["the deployment replay"] - seconds["option snapshots only (the replay before)"]
    print(f"replay extra cost of a deployment's schedules: {extra:+.1f} s")
    server.stop()


def bench_dbt(scenario, home: Path) -> None:
    from pipelines.defs.warehouse.dbt import (  # read dbt's manifest: imported here
        lake_sources,
        share_parse,
        window_env,
    )

    for venue, dataset in lake_sources():  # every glob dbt reads, recorder and CoinGlass datasets included
        Lake(home / "lake").ensure_anchor(venue, dataset)
    (home / "build").mkdir(exist_ok=True)
    # the window as Dagster passes it, from the shared parse (pipelines/defs/warehouse/dbt.py)
    env = {
        **os.environ,
        "LEVWATCH_HOME": str(home),
        **window_env(scenario.start.isoformat(), scenario.end.isoformat()),
    }
    target = home / "dbt_target"
    share_parse(target, env)
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "--quiet", "build", "--target-path", str(target)],
        cwd=ROOT / "dbt_project",
        env=env,
        check=True,
    )
    print(f"dbt build over {scenario.start}..{scenario.end}: {time.perf_counter() - started:.1f} s")
    from tests.bench.risk_index import main as risk_index_checks  # the index's full-window checks

    risk_index_checks(home / "build" / "levwatch.duckdb")


def bench_parser() -> None:
    page = [
        {
            "symbol": "BTCUSDT",
            "fundingTime": 1788307200000 + i * 28_800_000,
            "fundingRate": "0.00007995",
            "markPrice": "77403.12535507",
            "rateType": "Regular",
        }
        for i in range(1000)
    ]
    started = time.perf_counter()
    for _ in range(50):
        binance.parse_funding(page, "BTC")
    per_row_us = (time.perf_counter() - started) / 50_000 * 1e6
    print(f"parse binance funding: {per_row_us:.1f} us per row")


def bench_compaction(home: Path, days: int = 7) -> None:
    from datetime import UTC, datetime, timedelta

    from pipelines.lib.timeutil import day_start_ms
    from pipelines.recorder.compaction import compact_day
    from pipelines.recorder.landing import EVENTS, Landing

    landing, lake = Landing(home / "landing"), Lake(home / "lake")
    first = day_start_ms(datetime(2025, 10, 1, tzinfo=UTC).date())
    started = time.perf_counter()
    for minute in range(days * 1440):
        t = first + minute * 60_000
        rows = [
            {
                "venue": "bybit", "asset": "BTC", "symbol": "BTCUSDT",
                "ts": datetime.fromtimestamp((t + i * 7_000) / 1000, tz=UTC), "side": "long", "price": 1.0,
                "qty_coin": 1.0, "notional_usd": 1.0, "source": "stream", "event_key": f"{t}-{i}", "raw": "{}",
            }
            for i in range(5)
        ]  # fmt: skip
        landing.write("bybit", EVENTS, "bench", minute, rows, coverage=(t, t + 60_000))
    written = time.perf_counter() - started
    day = (datetime(2025, 10, 1, tzinfo=UTC) + timedelta(days=days // 2)).date()
    started = time.perf_counter()
    everything = landing.read("bybit", EVENTS).num_rows
    read_all = time.perf_counter() - started
    started = time.perf_counter()
    result = compact_day(lake, landing, "bybit", day)
    compacted = time.perf_counter() - started
    print(
        f"landing: {days * 1440} files written in {written:.0f} s; reading all {everything} rows takes "
        f"{read_all:.1f} s; compacting {day} ({result.rows} events) takes {compacted:.1f} s"
    )


def _timed(goals, name: str, fn, *args) -> None:
    """An in-process phase: its seconds, and the process's peak RSS so far (an upper bound for the phase)."""
    from tests.bench.goals import Phase

    started = time.perf_counter()
    fn(*args)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    goals.phases.append(Phase(name, time.perf_counter() - started, peak_mb, "in-process: peak so far"))


def main() -> None:
    from pipelines.warehouse import publish
    from tests.bench.goals import Goals, goal_a, goal_b, goal_e, goal_f, goal_run_creation, goals_not_measured

    goals = Goals()
    scenario = load_scenario()
    _timed(goals, "simulate the default scenario", bench_simulation, scenario)
    bench_parser()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _timed(
            goals,
            "backfill the default window, client by client (no Dagster)",
            bench_backfill,
            scenario,
            home,
        )
        _timed(goals, "one ranged dbt build over it", bench_dbt, scenario, home)
        publish(home)
        goal_e(goals, home, "the default window's warehouse (91 days: the 5-year one needs goal c's history)")
        _timed(
            goals,
            "the deployment replay (and the option-only replay)",
            bench_deployment_replay,
            scenario,
            home,
        )
        server = make_server(home / "sandbox-b", scenario=scenario).start()
        try:
            goal_b(goals, scenario, server.url, int(os.environ.get("LEVWATCH_BENCH_DAYS", "30")))
        finally:
            server.stop()
    goal_a(goals, scenario)
    with tempfile.TemporaryDirectory() as tmp:
        bench_compaction(Path(tmp))
    goal_run_creation(goals, scenario)
    goal_f(goals)
    goals_not_measured(goals)
    goals.print()


if __name__ == "__main__":
    main()
