"""`levwatch`: record liquidations, summary, report, sql, home, etf; and the sandbox harness's commands (demo,
sandbox serve|run, record options|deployment), added through the `levwatch.commands` entry point."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path

from pipelines.lib.cli_args import (
    existing_file,
    iso_day,
    non_empty_text,
    non_negative_int,
    positive_float,
    positive_int,
)
from pipelines.recorder.streams import STREAM_VENUES
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


# The embedded instance's event log: Dagster's SQLite files where Dagster puts them, written without a new connection
# and an fsync per event (pipelines/orchestration/event_log.py: the dbt step of the demo's ranged run waited ~50 s
# on its 11,000 materialization events)
DAGSTER_SQLITE_EVENT_LOG = """\
event_log_storage:
  module: pipelines.orchestration.event_log
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {base_dir}
"""


def dagster_yaml(settings: Settings, dagster_home: Path) -> str:
    """The instance config levwatch writes for these settings and this instance folder: SQLite by default (with the
    pooled event log), PostgreSQL when configured."""
    if not settings.dagster_postgres_url:
        base_dir = json.dumps(str(dagster_home.absolute() / "history" / "runs"))
        return DAGSTER_YAML + DAGSTER_SQLITE_EVENT_LOG.format(base_dir=base_dir)
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
    wanted = dagster_yaml(settings, dagster_home)
    if current is None or (current.startswith(DAGSTER_YAML_HEADER) and current != wanted):
        staged = config.with_name(".dagster.yaml.tmp")
        staged.unlink(missing_ok=True)
        staged.touch(mode=0o600 if settings.dagster_postgres_url else 0o644)
        staged.write_text(wanted)
        staged.replace(config)
    return dagster_home


def cmd_record(args: argparse.Namespace) -> int:
    import logging

    from pipelines.recorder.recorder import record_liquidations

    venues = tuple(v.strip() for v in args.venues.split(",") if v.strip())
    unknown = [v for v in venues if v not in STREAM_VENUES]
    if unknown or not venues:
        print(
            f"levwatch record: --venues must be among {','.join(STREAM_VENUES)}, got {args.venues!r}",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return record_liquidations(venues=venues, flush_seconds=args.flush_seconds, until_ms=args.until_ms)


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


# Commands other packages add to `levwatch`: the sandbox harness (pipelines/sandbox/harness/commands.py) adds
# `demo`, `sandbox serve|run` and `record options|deployment` this way, so this module never imports the sandbox.
COMMANDS_ENTRY_POINTS = "levwatch.commands"


def add_harness_commands(commands: argparse._SubParsersAction, record: argparse._SubParsersAction) -> None:
    """Each `levwatch.commands` entry point (pyproject.toml) is a `register(commands, record)` function, given the
    top-level subcommands and those of `levwatch record`."""
    for entry_point in sorted(entry_points(group=COMMANDS_ENTRY_POINTS), key=lambda e: e.name):
        entry_point.load()(commands, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="levwatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    record = sub.add_parser("record", help="long-running stream recorders")
    record_sub = record.add_subparsers(dest="record_command", required=True)
    liquidations = record_sub.add_parser(
        "liquidations", help="record the Binance and Bybit liquidation streams into the landing area"
    )
    liquidations.add_argument(
        "--venues",
        default=",".join(STREAM_VENUES),
        help=f"comma-separated (default: {','.join(STREAM_VENUES)})",
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
    add_harness_commands(sub, record_sub)
    args = parser.parse_args(argv)  # a bad argument exits here with code 2 and one clear line
    try:
        return args.func(args)
    except (SettingsError, FileNotFoundError) as exc:  # a bad LEVWATCH_* value, or nothing built yet
        print(f"levwatch {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
