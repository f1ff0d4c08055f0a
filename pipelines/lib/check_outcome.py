"""One outcome type for every check levwatch evaluates in Python (raw partitions, the recorder's streams, options
snapshots, DeFi and ETF freshness). Check logic returns a CheckOutcome and stays free of Dagster, so it is tested
directly; `pipelines/orchestration/check_results.py` turns it into Dagster's AssetCheckResult in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["WARN", "ERROR"]


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "ERROR"  # how the check is reported: a failing WARN does not fail the run
    name: str | None = None  # the check's name, where one step evaluates several checks

    @property
    def warn_only(self) -> bool:
        return self.severity == "WARN"


def warn_if(warn_only: bool) -> Severity:
    return "WARN" if warn_only else "ERROR"
