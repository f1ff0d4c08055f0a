"""`levwatch demo`: the whole product on the sandbox, which it starts itself and points every process at."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

from pipelines.cli import prepare_home
from pipelines.settings import load_settings


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole product on the sandbox: a deployment's history replayed on the sandbox clock (with the liquidation
    streams recorded beside it), then one ranged Dagster run, then the crash day's risk page. --backfill-only: that
    run alone, on the last day. One line of progress per phase; Dagster's and dbt's own logs go to a file."""
    from pipelines.progress import DemoProgress

    settings = load_settings()
    home = settings.home / "backfill-only" if args.backfill_only else settings.home
    with DemoProgress(home) as progress:
        return _demo(args, progress)


def _demo(args: argparse.Namespace, progress) -> int:
    from pipelines.lake_origin import set_aside_other_market
    from pipelines.report import CRASH_DAY, summary, unfetched_lines
    from pipelines.report_page import write_daily_report
    from pipelines.sandbox.harness.deployment_replay import RANGED_RUN_SELECTION
    from pipelines.sandbox.harness.start import sandbox_env
    from pipelines.sandbox.server import make_server

    settings = load_settings()
    # a last-day backfill is another deployment: its own home, so the replayed history does not mix into it
    home = settings.home / "backfill-only" if args.backfill_only else settings.home
    scenario_path = args.scenario or settings.sandbox_scenario
    started = time.monotonic()
    with progress.phase("simulate"):  # cached after the first run
        # one sandbox for the whole demo: the recorder's streams and every Dagster step see one market and clock
        server = make_server(settings.home, scenario_path).start()
    scenario = server.state.market.scenario
    progress.say(
        f"the '{scenario.name}' market ({scenario.start} .. {scenario.end}) is served on {server.url}"
    )
    moved_to = set_aside_other_market(home, f"{scenario.name}-{scenario.digest}")
    if moved_to is not None:
        progress.say(
            f"the lake held data from another source; it was moved to {moved_to}, and the demo starts afresh"
        )
    env = dict(os.environ)
    # the ranged run leaves CoinGlass out: the replay fetched it on replayed time, and a live key must never be
    # sent to the sandbox
    env.pop("COINGLASS_API_KEY", None)
    env.update(
        {
            "LEVWATCH_HOME": str(home),
            **sandbox_env(server),  # LEVWATCH_SOURCE=sandbox, its URL and its liquidation streams
            "DAGSTER_HOME": str(prepare_home(home)),
            "PYTHONWARNINGS": "ignore",  # Dagster's beta/preview notices are not news to a demo user
            # one planned-materialization event per asset for the ranged run, not one per asset and day: on
            # SQLite each is a committed write, and 85 assets x 91 days took minutes. Dagster's documented
            # trade-off: if the run fails, its partitions are not marked failed (the run still is)
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
        }
    )
    try:
        if not args.backfill_only:
            code = _replay_deployment(scenario, env, progress)
            if code:
                return code
        partition_range = f"{scenario.start.isoformat()}...{scenario.end.isoformat()}"
        selection = "*" if args.backfill_only else RANGED_RUN_SELECTION
        progress.say(f"backfilling every asset for {partition_range} in one Dagster run …")
        materialize = [
            sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
            "--select", selection, "--partition-range", partition_range,
            # most steps wait on venue rate limits, not on the CPU: four at a time on two cores; DEBUG: the log
            # file gets each step's events, and the progress line counts them
            "--config-json",
            '{"loggers": {"console": {"config": {"log_level": "DEBUG"}}},'
            ' "execution": {"config": {"max_concurrent": 4}}}',
        ]  # fmt: skip
        with progress.phase("backfill", "steps") as backfill:
            failure = progress.run({"the Dagster run": materialize}, env, progress.backfill_reader(backfill))
        if failure:
            return progress.fail(*failure)
    finally:
        server.stop()
    if not (home / "levwatch.duckdb").exists():
        return progress.fail(
            "publishing the warehouse (the dbt step did not run)", 1, log_of="the Dagster run"
        )
    crash_day = date.fromisoformat(CRASH_DAY)  # another scenario's page: its latest complete day
    with progress.phase("report"):
        report = write_daily_report(home, crash_day if scenario.start <= crash_day <= scenario.end else None)
    progress.close()
    say(f"done in {time.monotonic() - started:.0f}s\n")
    print(summary(home))
    if args.backfill_only:
        print()
        print("\n".join(unfetched_lines(home, scenario.start, scenario.end)))
    print(f"\nDagster UI on this instance: make dev   (DAGSTER_HOME={env['DAGSTER_HOME']})")
    print(f"Dagster's and dbt's logs: {progress.log_path}")
    print(f"The crash day's risk page: {report}")
    return 0


def _replay_deployment(scenario, env: dict[str, str], progress) -> int:
    """The liquidation recorder and the deployment replay (which walks the sandbox clock), side by side."""
    progress.say(
        "replaying a deployment's schedules on the sandbox clock, and the liquidation streams beside it …"
    )
    cli = [sys.executable, "-m", "pipelines.cli", "record"]
    processes = {
        "the liquidation recorder": [*cli, "liquidations", "--flush-seconds", "2"],
        "the deployment replay": [
            *cli, "deployment", "--start", scenario.start.isoformat(), "--end", scenario.end.isoformat()
        ],
    }  # fmt: skip
    with progress.phase("record", "days") as record:
        days = (scenario.end - scenario.start).days + 1
        failure = progress.run(processes, env, progress.replay_reader(record, days))
    return progress.fail(*failure) if failure else 0


def say(message: str) -> None:
    print(f"[levwatch] {message}", flush=True)
