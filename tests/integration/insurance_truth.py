"""The simulator's insurance ground truth, read independently of the clients and the SQL: what the insurance tests
compare the lake and the marts with (market.insurance: the funds' ledger; market.adl_episodes)."""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines.lib.timeutil import DAY_MS, day_start_ms

SNAPSHOT_HOUR_MS = 23 * 3_600_000  # insurance_snapshot_jobs: daily at 23:00
OKX_ENTRY_MS = 8 * 3_600_000  # OKX books its daily entries at 08:00


def truth_connection(market) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.register("ledger", market.insurance)
    con.register("episodes", market.adl_episodes)
    return con


def balance_at(con, venue: str, asset: str, t_ms: int) -> float:
    """The ledger's balance after its last entry at or before t."""
    return con.execute(
        "select arg_max(balance_usd, ts) from ledger where venue = ? and asset = ? and epoch_ms(ts) <= ?",
        [venue, asset, t_ms],
    ).fetchone()[0]


def reading_times(con, venue: str, asset: str, day: date) -> list[int]:
    """When the pipeline read the fund that day: snapshots at 23:00; OKX's 08:00 entry and its ADL entries."""
    start = day_start_ms(day)
    if venue != "okx":
        return [start + SNAPSHOT_HOUR_MS]
    adl = con.execute(
        "select epoch_ms(start_ts), epoch_ms(end_ts) from episodes where venue = ? and asset = ?",
        [venue, asset],
    ).fetchall()
    times = [start + OKX_ENTRY_MS] + [t for pair in adl for t in pair if t is not None]
    return [t for t in times if start <= t < start + DAY_MS]


def expected_daily(con, venue: str, assets, days) -> dict[date, float]:
    """Per day, the sum over the venue's funds of the balance at the fund's last reading of the day."""
    return {
        day: sum(balance_at(con, venue, a, max(reading_times(con, venue, a, day))) for a in assets)
        for day in days
    }
