"""The fault table's row order; tests/conftest.py prints the table once the suite has run (also under xdist,
where each worker hands its rows to the controller)."""

from __future__ import annotations

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
