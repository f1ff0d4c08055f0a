"""The child processes of the fault suite: a real ingest or a real `levwatch record liquidations`, in a fresh
interpreter, with at most one added pause (a write frozen half-way, or a start line) so the fault lands in the
same place every run. Imports only the pipeline and the harness, never the sandbox."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipelines.ingest import ingest_days
from pipelines.lake import Lake
from tests.faults.harness import DAYS, FAST_HTTP, STALL_S, TARGETS, nth_call, stall_parquet_writes


def ingest(
    target_name: str,
    base_url: str,
    lake_root: str,
    now_ms: int,
    run_id: str,
    stall_on_write: int = 0,
    marker: str = "",
    start_line: str = "",
    ready: str = "",
) -> None:
    """ingest_days of the target over DAYS. stall_on_write: that partition write freezes half-way and touches
    marker. start_line: touch `ready`, then wait for the start_line file, so two children start together."""
    target = TARGETS[target_name]
    if stall_on_write:
        stall_parquet_writes(Path(marker), nth_call(stall_on_write))
    if start_line:
        Path(ready).touch()
        deadline = time.monotonic() + STALL_S
        while not Path(start_line).exists():
            if time.monotonic() > deadline:
                raise TimeoutError("never released")
            time.sleep(0.001)
    with target.make_http(base_url, **FAST_HTTP) as http:
        ingest_days(
            target.venue,
            target.spec,
            DAYS,
            http=http,
            lake=Lake(Path(lake_root)),
            now_ms=now_ms,
            run_id=run_id,
        )


def record_stalling_in_a_flush(marker: str, from_ms: int, argv: list[str]) -> int:
    """`levwatch record liquidations` whose first landing write of events at or after from_ms (not gaps, not
    an empty heartbeat file) freezes half-way through its temp file."""
    import pyarrow.compute as pc

    def events_from(table) -> bool:
        if "event_key" not in table.column_names or table.num_rows == 0:
            return False
        return pc.max(pc.cast(table["ts"], "int64")).as_py() >= from_ms

    stall_parquet_writes(Path(marker), events_from)
    from pipelines.cli import main

    return main(argv)


if __name__ == "__main__":  # python -m tests.faults.children <marker> <from_ms> <levwatch args...>
    sys.exit(record_stalling_in_a_flush(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
