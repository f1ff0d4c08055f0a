"""Prints the fault table once the suite has run (pytest's terminal summary, so `-q` and capture keep it)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.faults.harness import format_table


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests.faults import test_fault_suite

    rows = test_fault_suite.ROWS
    if not rows:
        return
    order = list(FAULT_ORDER)
    table = format_table(
        sorted(rows.values(), key=lambda r: order.index(r.fault) if r.fault in order else 99)
    )
    terminalreporter.write_sep("=", "fault suite")
    terminalreporter.write_line(table)
    target = os.environ.get("LEVWATCH_FAULT_TABLE")  # `make faults` keeps the last measured table here
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(table + "\n")


FAULT_ORDER = (
    "429",
    "418 ban",
    "5xx burst",
    "timeout",
    "truncated body",
    "renamed field",
    "duplicate rows",
    "out-of-order rows",
    "mid-pagination failure",
    "venue outage (3 h of 503)",
    "kill -9 during ingest",
    "two overlapping runs",
    "kill -9 during recorder flush",
    "kill -9 before the first flush",
    "ENOSPC",
    "kill -9 during publish",
    "readers during publish",
)
