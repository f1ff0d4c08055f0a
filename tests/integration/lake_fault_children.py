"""The child side of tests/integration/test_lake_faults.py: real ingest runs that pause at a chosen point.

Kept apart from the tests so a spawned child imports only the pipeline and the stall helper, not the sandbox.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from pipelines.venues import binance, okx
from tests.faults.harness import nth_call, stall_parquet_writes

DAYS = [date(2025, 10, 10), date(2025, 10, 11), date(2025, 10, 12)]
WAIT_S = 60  # the longest any step may take before a test gives up
OKX_ASSETS = ("BTC", "XRP")  # two assets on a day after the crash: about a hundred events, fetched fast
# how long the first of two overlapping runs waits, after reading the day, for the second to read it too
PAUSE_S = 2


def ingest_then_stall_mid_write(base_url: str, lake_root: str, now_ms: int, stall_on_write: int, marker: str):
    """Child: a real ingest of DAYS whose `stall_on_write`-th partition write stops half-way, as if the machine
    froze there; the parent then kills it with SIGKILL."""
    stall_parquet_writes(Path(marker), nth_call(stall_on_write))
    with binance.make_http(base_url, sleep=lambda s: None) as http:
        ingest_days(
            "binance",
            binance.DATASETS["open_interest"],
            DAYS,
            http=http,
            lake=Lake(Path(lake_root)),
            now_ms=now_ms,
            run_id="killed",
        )


def merge_day_in_step(base_url: str, lake_root: str, now_ms: int, run_id: str, role: str, signals: str):
    """Child: a real OKX liquidation ingest of one day. 'first' pauses just after reading the day's file, until
    'second' has read it too (or PAUSE_S pass: with the lock, 'second' cannot read before 'first' has written).
    'second' starts only once 'first' has read."""
    folder = Path(signals)
    real_read = Lake.read_partition

    def read_partition(self, *args):
        table = real_read(self, *args)
        (folder / f"{role}-read").touch()
        if role == "first":
            deadline = time.monotonic() + PAUSE_S
            while not (folder / "second-read").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return table

    Lake.read_partition = read_partition
    if role == "second":
        deadline = time.monotonic() + WAIT_S
        while not (folder / "first-read").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the first run never read the day")
            time.sleep(0.01)
    with okx.make_http(base_url, sleep=lambda s: None) as http:
        ingest_days(
            "okx",
            okx.DATASETS["liquidations"],
            [DAYS[1]],
            http=http,
            lake=Lake(Path(lake_root)),
            now_ms=now_ms,
            run_id=run_id,
            assets=OKX_ASSETS,
        )
