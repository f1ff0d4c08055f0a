"""`make bench`: the long runs, with figures printed (not asserted).

- simulating the default scenario (time, peak memory), and its figures beside the public ones it aims at
- backfilling the default window from the sandbox into a fresh lake, per venue and dataset (time, requests, rows)
- one ranged dbt build over that lake (time)
- parser throughput on a large synthetic Binance page
"""

from __future__ import annotations

import json
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


def bench_dbt(scenario, home: Path) -> None:
    for venue, module in VENUE_MODULES.items():
        for dataset in module.DATASETS:
            Lake(home / "lake").ensure_anchor(venue, dataset)
    (home / "build").mkdir(exist_ok=True)
    env = {**os.environ, "LEVWATCH_HOME": str(home)}
    dbt_vars = json.dumps({"start_date": scenario.start.isoformat(), "end_date": scenario.end.isoformat()})
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "--quiet", "build", "--vars", dbt_vars],
        cwd=ROOT / "dbt_project",
        env=env,
        check=True,
    )
    print(f"dbt build over {scenario.start}..{scenario.end}: {time.perf_counter() - started:.1f} s")


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


def main() -> None:
    scenario = load_scenario()
    bench_simulation(scenario)
    bench_parser()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        bench_backfill(scenario, home)
        bench_dbt(scenario, home)


if __name__ == "__main__":
    main()
