"""`levwatch demo`: the whole product on the sandbox, which it starts itself and points every process at."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

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
    from pipelines.sandbox.harness.deployment_replay import AFTER_REPLAY_SELECTION, BESIDE_REPLAY_SELECTION
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
    partition_range = f"{scenario.start.isoformat()}...{scenario.end.isoformat()}"

    def materialize(selection: str) -> list[str]:
        return [
            sys.executable, "-m", "dagster", "asset", "materialize", "-m", "pipelines.definitions",
            "--select", selection, "--partition-range", partition_range,
            # most steps wait on venue rate limits, not on the CPU: four at a time on two cores; DEBUG: the log
            # file gets each step's events, and the progress line counts them
            "--config-json",
            '{"loggers": {"console": {"config": {"log_level": "DEBUG"}}},'
            ' "execution": {"config": {"max_concurrent": 4}}}',
        ]  # fmt: skip

    try:
        if args.backfill_only:
            selection = "*"
        else:
            history_run = materialize(BESIDE_REPLAY_SELECTION)
            code = _replay_deployment(scenario, args.scenario, env, progress, history_run)
            if code:
                return code
            selection = AFTER_REPLAY_SELECTION
        what = "every asset" if args.backfill_only else "the rest"
        progress.say(f"backfilling {what} for {partition_range} in one Dagster run …")
        with progress.phase("backfill", "steps") as backfill:
            failure = progress.run(
                {"the Dagster run": materialize(selection)}, env, progress.backfill_reader(backfill)
            )
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


def _replay_deployment(
    scenario, scenario_path: Path | None, env: dict[str, str], progress, history_run: list[str]
) -> int:
    """The deployment replay (which walks the sandbox clock), the liquidation recorder, and `history_run`: the
    Dagster run of the full-history datasets, on a sandbox of its own whose clock stays at the market's "now"."""
    progress.say(
        "replaying a deployment's schedules on the sandbox clock, with the liquidation streams and a Dagster run "
        "of the full-history datasets (on a second sandbox) beside it …"
    )
    cli = [sys.executable, "-m", "pipelines.cli"]
    # `levwatch sandbox run` starts a sandbox for its command when no LEVWATCH_SANDBOX_URL points it at one
    on_own_sandbox = [*cli, "sandbox", "run"] + (["--scenario", str(scenario_path)] if scenario_path else [])
    processes = {
        "the liquidation recorder": [*cli, "record", "liquidations", "--flush-seconds", "2"],
        "the deployment replay": [
            *cli, "record", "deployment", "--start", scenario.start.isoformat(), "--end", scenario.end.isoformat()
        ],
        "the Dagster run beside the replay": [*on_own_sandbox, "--", *history_run],
    }  # fmt: skip
    without_sandbox_url = {key: value for key, value in env.items() if key != "LEVWATCH_SANDBOX_URL"}
    with progress.phase("record", "days") as record, progress.phase("history", "steps") as history:
        days = (scenario.end - scenario.start).days + 1
        replayed, steps = progress.replay_reader(record, days), progress.backfill_reader(history)

        def read(line: str) -> None:
            replayed(line)
            steps(line)

        failure = progress.run(
            processes, env, read, env_of={"the Dagster run beside the replay": without_sandbox_url}
        )
    return progress.fail(*failure) if failure else 0


def say(message: str) -> None:
    print(f"[levwatch] {message}", flush=True)
