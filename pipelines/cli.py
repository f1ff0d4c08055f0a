"""`levwatch`: demo, sandbox serve, record liquidations, summary, report, sql."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from pipelines.lib.cli_args import (
    existing_file,
    hour_of_day,
    iso_day,
    non_empty_text,
    non_negative_int,
    positive_float,
    positive_int,
    tcp_port,
)
from pipelines.settings import Settings, SettingsError, load_settings

DAGSTER_YAML_HEADER = "# Written by levwatch: the Dagster instance for this LEVWATCH_HOME."
DAGSTER_YAML = f"""\
{DAGSTER_YAML_HEADER}
telemetry:
  enabled: false
# Every pool takes one step at a time: `duckdb_writer` (dbt's working DuckDB file takes one writer process) and
# `venue_<venue>` (each step's client limiter assumes it is the venue's only caller). Steps of overlapping runs
# wait for the slot. Per-pool overrides: `dagster instance concurrency set <pool> <limit>`.
concurrency:
  pools:
    default_limit: 1
"""


# With LEVWATCH_DAGSTER_POSTGRES_URL: runs, events and schedules in PostgreSQL, so a run's steps on other machines
# (Celery workers, Kubernetes pods) and every webserver/daemon share them. The URL is written as settings.py
# normalises it (psycopg2 named: the webserver and daemon load the instance without our code), so the file then
# holds a password: it is written owner-only (0600), like a .pgpass.
DAGSTER_POSTGRES_STORAGE = """\
storage:
  postgres:
    postgres_url: {url}
"""


def dagster_yaml(settings: Settings) -> str:
    """The instance config levwatch writes for these settings: SQLite by default, PostgreSQL when configured."""
    if not settings.dagster_postgres_url:
        return DAGSTER_YAML
    return DAGSTER_YAML + DAGSTER_POSTGRES_STORAGE.format(url=json.dumps(settings.dagster_postgres_url))


def prepare_home(home: Path, settings: Settings | None = None) -> Path:
    """Create $LEVWATCH_HOME and its Dagster instance folder; return DAGSTER_HOME.

    An instance config levwatch wrote (for other settings, or before pools had limits) is brought up to date;
    one written by hand is left alone (the README says what to add)."""
    settings = settings or load_settings()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    wanted = dagster_yaml(settings)
    if current is None or (current.startswith(DAGSTER_YAML_HEADER) and current != wanted):
        staged = config.with_name(".dagster.yaml.tmp")
        staged.unlink(missing_ok=True)
        staged.touch(mode=0o600 if settings.dagster_postgres_url else 0o644)
        staged.write_text(wanted)
        staged.replace(config)
    return dagster_home


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
    from pipelines.deployment_replay import RANGED_RUN_SELECTION
    from pipelines.lake_origin import set_aside_other_market
    from pipelines.report import CRASH_DAY, summary, unfetched_lines
    from pipelines.report_page import write_daily_report
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
            "LEVWATCH_SOURCE": "sandbox",
            "LEVWATCH_SANDBOX_URL": server.url,
            "LEVWATCH_BINANCE_WS_URL": server.ws_url("binance"),
            "LEVWATCH_BYBIT_WS_URL": server.ws_url("bybit"),
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
    _say(f"done in {time.monotonic() - started:.0f}s\n")
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


def _say(message: str) -> None:
    print(f"[levwatch] {message}", flush=True)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from pipelines.sandbox.server import make_server

    settings = load_settings()
    server = make_server(settings.home, args.scenario, port=args.port).start()
    print(f"sandbox serving the '{server.state.market.scenario.name}' market on {server.url}", flush=True)
    print("  LEVWATCH_SOURCE=sandbox")
    print(f"  LEVWATCH_SANDBOX_URL={server.url}")
    for venue in sorted(server.state.market.scenario.venues):
        print(f"  LEVWATCH_{venue.upper()}_URL={server.base_url(venue)}")
    for venue in ("binance", "bybit"):  # the liquidation streams
        print(f"  LEVWATCH_{venue.upper()}_WS_URL={server.ws_url(venue)}")
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


def cmd_record(args: argparse.Namespace) -> int:
    import logging

    from pipelines.recorder.recorder import VENUES, record_liquidations

    venues = tuple(v.strip() for v in args.venues.split(",") if v.strip())
    unknown = [v for v in venues if v not in VENUES]
    if unknown or not venues:
        print(
            f"levwatch record: --venues must be among {','.join(VENUES)}, got {args.venues!r}",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return record_liquidations(venues=venues, flush_seconds=args.flush_seconds, until_ms=args.until_ms)


def cmd_record_options(args: argparse.Namespace) -> int:
    """Sandbox only: walk the sandbox clock hour by hour and take the Deribit snapshots a live schedule would have."""
    from pipelines.lake import Lake
    from pipelines.lib.timeutil import DAY_MS, day_start_ms
    from pipelines.options_replay import record_option_snapshots

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
            _say(message.replace(" +23h", ": option snapshots recorded"))

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
    from pipelines.deployment_replay import replay_deployment
    from pipelines.lake import Lake
    from pipelines.lib.timeutil import DAY_MS, day_start_ms
    from pipelines.sandbox import SANDBOX_API_KEY

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
        progress=_say,
    )
    _say(
        f"deployment replay: {report.runs} runs at {report.positions} clock positions in "
        f"{time.monotonic() - started:.0f}s"
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from pipelines.report import summary

    print(summary(load_settings().home))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the day's HTML risk page (and the index) from the published warehouse; print only its path."""
    from pipelines.report_page import write_daily_report

    home = load_settings().home
    path = write_daily_report(home, args.date, args.out)
    if path is None:
        print("levwatch report: the warehouse holds no complete day yet", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.warehouse import AnalystQueryRefused, connect_read_only, run_analyst_query

    with connect_read_only(load_settings().home) as con:
        try:
            result = run_analyst_query(con, args.query)
            if result is not None:
                result.show(max_rows=args.max_rows)
        except (AnalystQueryRefused, duckdb.Error) as exc:
            print(f"levwatch sql: {exc}", file=sys.stderr)
            return 1
    return 0


def cmd_home(args: argparse.Namespace) -> int:
    """Create $LEVWATCH_HOME and its Dagster instance (what `make dev` needs before `dagster dev`)."""
    print(prepare_home(load_settings().home))
    return 0


def cmd_etf_convert_btabiado(args: argparse.Namespace) -> int:
    from pipelines.etf_import import EtfImportError, convert_btabiado

    try:
        kept = convert_btabiado(args.source, args.target, args.underlying)
    except EtfImportError as exc:
        print(f"levwatch etf convert-btabiado: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {kept} rows to {args.target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="levwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="backfill the sandbox scenario end to end and print a summary")
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
    sandbox = sub.add_parser("sandbox", help="the market sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_sub.add_parser("serve", help="serve every venue's API on loopback")
    serve.add_argument("--port", type=tcp_port, default=8765)
    serve.add_argument("--scenario", type=existing_file)
    serve.set_defaults(func=cmd_sandbox)
    run = sandbox_sub.add_parser(
        "run",
        help="run a command (e.g. -- dagster dev) pointed at a sandbox started for it, or at LEVWATCH_SANDBOX_URL",
    )
    run.add_argument("--port", type=tcp_port, default=0, help="default: a free port")
    run.add_argument("--scenario", type=existing_file)
    run.add_argument("argv", nargs=argparse.REMAINDER, help="the command, after --")
    run.set_defaults(func=cmd_sandbox_run)
    record = sub.add_parser("record", help="long-running stream recorders")
    record_sub = record.add_subparsers(dest="record_command", required=True)
    liquidations = record_sub.add_parser(
        "liquidations", help="record the Binance and Bybit liquidation streams into the landing area"
    )
    liquidations.add_argument(
        "--venues", default="binance,bybit", help="comma-separated (default: binance,bybit)"
    )
    liquidations.add_argument(
        "--flush-seconds", type=positive_float, default=60.0, help="landing file interval (default 60)"
    )
    liquidations.add_argument(
        "--until-ms",
        type=non_negative_int,
        help="stop at this stream time, epoch ms (sandbox default: the replay's end)",
    )
    liquidations.set_defaults(func=cmd_record)
    options = record_sub.add_parser(
        "options", help="sandbox only: replay the clock and record Deribit option snapshots for a window"
    )
    options.add_argument("--start", type=iso_day, required=True, help="first day, YYYY-MM-DD")
    options.add_argument("--end", type=iso_day, required=True, help="last day, YYYY-MM-DD")
    options.add_argument("--step-minutes", type=positive_int, default=60)
    options.add_argument(
        "--first-hour", type=hour_of_day, default=0, help="UTC hour of each day's first snapshot"
    )
    options.set_defaults(func=cmd_record_options)
    deployment = record_sub.add_parser(
        "deployment",
        help="sandbox only: replay a deployment's schedules on the sandbox clock (retention-limited and snapshot "
        "datasets, option snapshots, CoinGlass)",
    )
    deployment.add_argument("--start", type=iso_day, required=True, help="first day, YYYY-MM-DD")
    deployment.add_argument("--end", type=iso_day, required=True, help="last day, YYYY-MM-DD")
    deployment.add_argument("--no-coinglass", action="store_true", help="leave CoinGlass out")
    deployment.set_defaults(func=cmd_record_deployment)
    summary = sub.add_parser("summary", help="print the summary from the published warehouse")
    summary.set_defaults(func=cmd_summary)
    report = sub.add_parser(
        "report", help="write the daily risk page D.html and index.html from the published warehouse"
    )
    report.add_argument("--date", type=iso_day, help="the day, YYYY-MM-DD (default: the latest complete day)")
    report.add_argument("--out", type=Path, help="folder for the pages (default: $LEVWATCH_HOME/reports)")
    report.set_defaults(func=cmd_report)
    sql = sub.add_parser("sql", help="run one read-only query against the published warehouse")
    sql.add_argument("query", type=non_empty_text)
    sql.add_argument("--max-rows", type=positive_int, default=50)
    sql.set_defaults(func=cmd_sql)
    home = sub.add_parser("home", help="create $LEVWATCH_HOME and its Dagster instance; print DAGSTER_HOME")
    home.set_defaults(func=cmd_home)
    etf = sub.add_parser("etf", help="the ETF-flow CSV drop folder")
    etf_sub = etf.add_subparsers(dest="etf_command", required=True)
    convert = etf_sub.add_parser(
        "convert-btabiado",
        help="turn btabiado/alpine-data's btc_flows.csv / eth_flows.csv into a drop-folder file",
    )
    convert.add_argument("source", type=existing_file, help="btc_flows.csv or eth_flows.csv")
    convert.add_argument("underlying", type=str.upper, choices=["BTC", "ETH"], help="the file's underlying")
    convert.add_argument("target", type=Path, help="e.g. $LEVWATCH_HOME/drop/etf_flows/BTC/history.csv")
    convert.set_defaults(func=cmd_etf_convert_btabiado)
    args = parser.parse_args(argv)  # a bad argument exits here with code 2 and one clear line
    try:
        return args.func(args)
    except (SettingsError, FileNotFoundError) as exc:  # a bad LEVWATCH_* value, or nothing built yet
        print(f"levwatch {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
