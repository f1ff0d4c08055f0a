"""The one adapter from levwatch's CheckOutcome (pipelines/lib/check_outcome.py) to Dagster's AssetCheckResult."""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey

from pipelines.lib.check_outcome import CheckOutcome


def check_result(
    outcome: CheckOutcome, *, asset_key: AssetKey | None = None, check_name: str | None = None
) -> AssetCheckResult:
    """The outcome as Dagster reports it; asset_key and check_name only where a step yields several checks."""
    named = {}
    if check_name or outcome.name:
        named["check_name"] = check_name or outcome.name
    if asset_key is not None:
        named["asset_key"] = asset_key
    return AssetCheckResult(
        passed=outcome.passed,
        severity=AssetCheckSeverity[outcome.severity],
        description=outcome.message,
        metadata=outcome.metadata,
        **named,
    )
