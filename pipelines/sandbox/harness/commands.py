"""The harness's `levwatch` commands: `demo`, `sandbox serve|run` and `record options|deployment`.

The production CLI (pipelines/cli.py) never imports the sandbox: it adds these through the `levwatch.commands`
entry point (pyproject.toml), which calls `register` with its top-level and `record` subcommand sets. An entry
point, not an import: the dependency runs from the harness to the production CLI, never back.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pipelines.lib.cli_args import existing_file, hour_of_day, iso_day, positive_int, tcp_port
from pipelines.settings import load_settings

# `levwatch` loads this module for every command: the sandbox itself is imported only by the commands that use it


def register(commands: argparse._SubParsersAction, record: argparse._SubParsersAction) -> None:
    """Add the harness's commands to `levwatch` (commands) and to `levwatch record` (record)."""
    demo = commands.add_parser("demo", help="backfill the sandbox scenario end to end and print a summary")
    demo.add_argument(
        "--scenario", type=existing_file, help="scenario YAML (default: the built-in default market)"
    )
    demo.add_argument(
        "--backfill-only",
        action="store_true",
        help="what a new user's first backfill sees: the ranged run alone, on the last day, in "
        "$LEVWATCH_HOME/backfill-only; the summary says what it could not fetch",
    )
    demo.set_defaults(func=cmd_demo)
    sandbox = commands.add_parser("sandbox", help="the market sandbox")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="serve every venue's API on loopback")
    serve.add_argument("--port", type=tcp_port, default=8765)
    serve.add_argument("--scenario", type=existing_file)
    serve.set_defaults(func=cmd_sandbox)
    run = sandbox_commands.add_parser(
        "run",
        help="run a command (e.g. -- dagster dev) pointed at a sandbox started for it, or at LEVWATCH_SANDBOX_URL",
    )
    run.add_argument("--port", type=tcp_port, default=0, help="default: a free port")
    run.add_argument("--scenario", type=existing_file)
    run.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    run.set_defaults(func=cmd_sandbox_run)
    options = record.add_parser(
        "options", help="sandbox only: replay the clock and record Deribit option snapshots for a window"
    )
    options.add_argument("--start", type=iso_day, required=True, help="first day, YYYY-MM-DD")
    options.add_argument("--end", type=iso_day, required=True, help="last day, YYYY-MM-DD")
    options.add_argument("--step-minutes", type=positive_int, default=60)
    options.add_argument(
        "--first-hour", type=hour_of_day, default=0, help="UTC hour of each day's first snapshot"
    )
    options.set_defaults(func=cmd_record_options)
    deployment = record.add_parser(
        "deployment",
        help="sandbox only: replay a deployment's schedules on the sandbox clock (retention-limited and snapshot "
        "datasets, option snapshots, CoinGlass)",
    )
    deployment.add_argument("--start", type=iso_day, required=True, help="first day, YYYY-MM-DD")
    deployment.add_argument("--end", type=iso_day, required=True, help="last day, YYYY-MM-DD")
    deployment.add_argument("--no-coinglass", action="store_true", help="leave CoinGlass out")
    deployment.set_defaults(func=cmd_record_deployment)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.sandbox.harness import demo

    return demo.cmd_demo(args)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from pipelines.sandbox.harness.start import sandbox_env
    from pipelines.sandbox.server import make_server

    settings = load_settings()
    server = make_server(settings.home, args.scenario, port=args.port).start()
    print(f"sandbox serving the '{server.state.market.scenario.name}' market on {server.url}", flush=True)
    for name, value in sandbox_env(server).items():  # what points the pipeline and the recorder at it
        print(f"  {name}={value}")
    for venue in sorted(server.state.market.scenario.venues):
        print(f"  LEVWATCH_{venue.upper()}_URL={server.base_url(venue)}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


def cmd_sandbox_run(args: argparse.Namespace) -> int:
    from pipelines.sandbox.harness.start import run_with_sandbox

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print("levwatch sandbox run: name a command to run, e.g. -- dagster dev", file=sys.stderr)
        return 2
    return run_with_sandbox(command, load_settings(), scenario_path=args.scenario, port=args.port)


def cmd_record_options(args: argparse.Namespace) -> int:
    """Sandbox only: walk the sandbox clock hour by hour and take the Deribit snapshots a live schedule would have."""
    from pipelines.lake import Lake
    from pipelines.lib.timeutil import DAY_MS, day_start_ms
    from pipelines.sandbox.harness.demo import say
    from pipelines.sandbox.harness.options_replay import record_option_snapshots

    settings = load_settings()
    if settings.source != "sandbox" or not settings.sandbox_url:
        print(
            "levwatch record options: needs LEVWATCH_SOURCE=sandbox and LEVWATCH_SANDBOX_URL", file=sys.stderr
        )
        return 2
    if args.end < args.start:
        print(f"levwatch record options: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    start = day_start_ms(args.start) + args.first_hour * 3_600_000
    end = day_start_ms(args.end) + DAY_MS

    def daily_progress(message: str) -> None:
        if message.endswith(" +23h"):  # one line a day is enough to show progress
            say(message.replace(" +23h", ": option snapshots recorded"))

    record_option_snapshots(
        settings.sandbox_url,
        Lake.at(settings.lake_url, home=settings.home),
        start,
        end,
        args.step_minutes * 60_000,
        progress=daily_progress,
    )
    return 0


def cmd_record_deployment(args: argparse.Namespace) -> int:
    """Sandbox only: walk the sandbox clock hour by hour and fetch what a deployment's schedules would have."""
    from pipelines.lake import Lake
    from pipelines.lib.timeutil import DAY_MS, day_start_ms
    from pipelines.sandbox import SANDBOX_API_KEY
    from pipelines.sandbox.harness.demo import say
    from pipelines.sandbox.harness.deployment_replay import replay_deployment

    settings = load_settings()
    if settings.source != "sandbox" or not settings.sandbox_url:
        print(
            "levwatch record deployment: needs LEVWATCH_SOURCE=sandbox and LEVWATCH_SANDBOX_URL",
            file=sys.stderr,
        )
        return 2
    if args.end < args.start:
        print(f"levwatch record deployment: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    started = time.monotonic()
    report = replay_deployment(
        settings.sandbox_url,
        Lake.at(settings.lake_url, home=settings.home),
        day_start_ms(args.start),
        day_start_ms(args.end) + DAY_MS,
        # the sandbox's CoinGlass key is a public sandbox value, not a secret (pipelines/sandbox/__init__.py)
        coinglass_key=None if args.no_coinglass else SANDBOX_API_KEY,
        progress=say,
    )
    say(
        f"deployment replay: {report.runs} runs at {report.positions} clock positions in "
        f"{time.monotonic() - started:.0f}s"
    )
    # in the demo, its Dagster instance: the partitions its ranged run will not fetch again
    if os.environ.get("DAGSTER_HOME"):
        from dagster import DagsterInstance

        from pipelines.sandbox.harness.deployment_replay import record_in_dagster

        with DagsterInstance.get() as instance:
            reported = record_in_dagster(report, instance)
        say(f"deployment replay: {reported} asset partitions reported to the Dagster instance")
    return 0
